"""The support console: a small read-only web application for support staff.

Why Starlette + uvicorn (and not Datasette): the console is a handful of pages over queries the
project already has (transcripts with masking, plans, reminders), rendered with the project's
own Jinja2 and Babel, in both languages from the project's catalogues.  Datasette would
expose tables and SQL to the browser - the opposite of "masked unless a reason is given" - and
hiding that needs its own plugins, templates and permission rules.  Starlette gives routing,
forms (python-multipart) and a test client (httpx) and nothing more; uvicorn serves it.

Security, in the order a request meets it (`_Gate`, a plain ASGI middleware):

* Default deny: every path except ``/login`` and ``/static/...`` needs a live session; without
  one a page request is redirected to ``/login?next=...`` and a JSON request (``*.json`` or
  ``Accept: application/json``) gets 401.  A route added later is protected without a thought.
* Sessions: a random token in an HttpOnly, SameSite=Strict cookie (Secure with
  ``secure_cookies``); only its SHA-256 is stored; 8 hours at most, 30 minutes idle
  (`bot.support.auth`).  Failed logins are limited per name.
* CSRF: every POST carries a per-session token in a hidden field (derived from the session
  secret); the login form uses a double-submit cookie.  A cross-site ``Origin`` is refused.
* Every response: ``Cache-Control: no-store`` (pages hold personal data), a strict Content
  Security Policy (no scripts at all, styles from /static only), no framing, and no referrer
  to other sites.
* Personal data is masked on every page; ``POST /conversations/<chat>/reveal`` with a typed
  reason shows it unmasked in that one response (never a URL one could bookmark or share)
  and writes the audit event ``pii_revealed`` (agent, chat, reason).
* Search terms (names, phone digits) travel in query strings, so uvicorn's access log is off
  (`serve`).

SQLite connections belong to the thread that opened them, and a server may answer from another
thread than the one that opened the store (Starlette's TestClient always does): the console
uses the store it is given in the thread that made it, and opens its own Store on the same
file in any other thread (WAL lets them share it).  Handlers are ``async`` and short, so
uvicorn serves them all from its event-loop thread.
"""
from __future__ import annotations

import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote, urlsplit

from markupsafe import Markup
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from bot.config import Settings
from bot.errors import StoreError
from bot.i18n import LOCALES, Translator
from bot.store import Store
from bot.support import auth as support_auth
from bot.support.masking import mask_name, mask_phone, mask_text
from bot.support.transcripts import (
    STATIC,
    build_transcript,
    day_start,
    page_environment,
)

SESSION_COOKIE = "support_session"
LOGIN_CSRF_COOKIE = "support_login_csrf"
LANGUAGE_COOKIE = "support_lang"
PUBLIC_PATHS = ("/login",)
PUBLIC_PREFIXES = ("/static/",)
MAX_NOTE = 4000
MAX_REASON = 500
SEARCH_LIMIT = 200

SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # search terms in URLs never go to another site
    (b"content-security-policy",
     b"default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
     b"frame-ancestors 'none'; base-uri 'none'"),
]


# ------------------------------------------------------------------ the console's services


class _Stores:
    """The given store in its own thread, a Store on the same file in any other (see above)."""

    def __init__(self, store: Store) -> None:
        self.first = store
        self.owner = threading.get_ident()
        self.local = threading.local()
        self.opened: list[Store] = []
        self.lock = threading.Lock()

    def get(self) -> Store:
        if threading.get_ident() == self.owner:
            return self.first
        store = getattr(self.local, "store", None)
        if store is None:
            if self.first.path == ":memory:":
                raise RuntimeError("the support console needs a database file, not :memory:, "
                                   "when it serves from another thread")
            store = Store(self.first.path, clock=self.first.clock)
            self.local.store = store
            with self.lock:
                self.opened.append(store)
        return store

    def close(self) -> None:
        with self.lock:
            opened, self.opened = self.opened, []
        for store in opened:
            try:
                store.close()
            except Exception:  # noqa: BLE001 - another thread's connection; the process ends anyway
                pass


class Console:
    def __init__(self, store: Store, settings: Settings, translator: Translator,
                 clock: Callable[[], datetime], secure_cookies: bool) -> None:
        self.stores = _Stores(store)
        self.settings = settings
        self.translator = translator
        self.clock = clock
        self.secure_cookies = secure_cookies
        self.env = page_environment(translator)

    @property
    def store(self) -> Store:
        return self.stores.get()

    def locale_of(self, scope: dict) -> str:
        return scope.get("support", {}).get("locale", self.settings.default_locale)

    def render(self, request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        locale = self.locale_of(request.scope)
        translator = self.translator
        catalogue = translator.keys(locale)

        def t(key: str, **data: Any) -> Markup:
            return Markup(translator.render(locale, key, **data))

        def label(kind: str, value: Any) -> Any:
            """A borrower-facing label from the bot's catalogue (label.reason.job_loss...), or
            the raw value when there is none."""
            key = f"label.{kind}.{value}"
            return t(key) if key in catalogue else value

        def tr_or(key: str, fallback: Any) -> Any:
            return t(key) if key in catalogue else fallback

        agent = request.scope.get("support", {}).get("agent")
        html = self.env.get_template(template).render(
            t=t, label=label, tr_or=tr_or, locale=locale, locales=LOCALES, agent=agent,
            path=context.pop("page_path", None) or request.url.path,
            f=self.env.globals["filters_for"](locale), tz=self.settings.tz, **context,
        )
        return HTMLResponse(html, status_code=status_code)


# ------------------------------------------------------------------ the gate (middleware)


def _cookies(scope: dict) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is no cookie
                return {}
    return {key: morsel.value for key, morsel in jar.items()}


def _header(scope: dict, wanted: bytes) -> str:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.decode("latin-1")
    return ""


def _wants_json(scope: dict) -> bool:
    accept = _header(scope, b"accept")
    return scope["path"].endswith(".json") or ("application/json" in accept and "text/html" not in accept)


def _query_language(scope: dict) -> str | None:
    match = re.search(r"(?:^|&)lang=([A-Za-z_]+)", scope.get("query_string", b"").decode("latin-1"))
    return match.group(1) if match and match.group(1) in LOCALES else None


class _Gate:
    """Default-deny authentication, the agent's language, and security headers (pure ASGI)."""

    def __init__(self, app: Any, console: Console) -> None:
        self.app = app
        self.console = console

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cookies = _cookies(scope)
        chosen = _query_language(scope)
        locale = chosen or (cookies.get(LANGUAGE_COOKIE) if cookies.get(LANGUAGE_COOKIE) in LOCALES else None) \
            or self.console.settings.default_locale
        extra_headers = list(SECURITY_HEADERS)
        if chosen:
            extra_headers.append((b"set-cookie", (
                f"{LANGUAGE_COOKIE}={chosen}; Path=/; Max-Age=31536000; SameSite=Strict; HttpOnly"
                + ("; Secure" if self.console.secure_cookies else "")).encode("latin-1")))

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in extra_headers if name != b"set-cookie"}
                headers = [(n, v) for n, v in message.get("headers", []) if n.lower() not in names]
                message = {**message, "headers": headers + extra_headers}
            await send(message)

        path = scope["path"]
        agent = None
        if path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIXES):
            agent = support_auth.session_agent(self.console.store, cookies.get(SESSION_COOKIE),
                                               now=self.console.clock())
            if agent is None:
                response: Response
                if _wants_json(scope):
                    response = JSONResponse({"error": "login required"}, status_code=401)
                else:
                    target = path + (("?" + scope["query_string"].decode("latin-1")) if scope.get("query_string") else "")
                    if scope["method"] not in ("GET", "HEAD"):
                        target = "/"  # a form posted after the session ended: start again from the search
                    response = RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)
                    if cookies.get(SESSION_COOKIE):
                        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
                await response(scope, receive, send_with_headers)
                return
        elif path in PUBLIC_PATHS:
            agent = support_auth.session_agent(self.console.store, cookies.get(SESSION_COOKIE),
                                               now=self.console.clock())
        scope["support"] = {"agent": agent, "locale": locale, "cookies": cookies}
        await self.app(scope, receive, send_with_headers)


# ------------------------------------------------------------------ helpers for handlers


def _agent(request: Request) -> support_auth.Agent:
    return request.scope["support"]["agent"]


def _same_origin(request: Request) -> bool:
    """False only for a request that says it comes from another site (the CSRF token is the
    real check; browsers send no Origin, or "null", in some cases)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "") and parts.scheme in ("http", "https")


async def _checked_form(request: Request) -> FormData:
    """The POSTed form, if its CSRF token is this session's; 403 otherwise."""
    form = await request.form(max_files=0, max_fields=20)
    token = str(form.get("csrf", ""))
    if not _same_origin(request) or not hmac.compare_digest(token.encode(), _agent(request).csrf.encode()):
        raise HTTPException(403, "csrf")
    return form


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no //host, no scheme) may be the page after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _parse_day(text: str | None) -> date | None:
    text = (text or "").strip()
    return date.fromisoformat(text) if text else None


def _finances(data: dict, currency: str) -> dict[str, Any]:
    """The borrower's answers from the saved dialogue state, with amounts as Decimal."""
    answers = data.get("data") or {}

    def money(key: str) -> Decimal | None:
        value = answers.get(key)
        return None if value is None else Decimal(str(value))

    expenses = {category: Decimal(str(amount)) for category, amount in (answers.get("expenses") or {}).items()}
    total_expenses = sum(expenses.values(), Decimal(0)) if answers.get("expenses_itemised") else money("expenses_total")
    income, debts = money("income"), money("other_debts")
    left = None
    if income is not None and total_expenses is not None and debts is not None:
        left = income - total_expenses - debts
    return {
        "currency": currency, "reason": answers.get("reason"), "reason_text": answers.get("reason_text"),
        "outlook": answers.get("outlook"), "recovery_months": answers.get("recovery_months"),
        "income_after": money("income_after"), "income": income, "income_kind": answers.get("income_kind"),
        "high_months": answers.get("high_months"), "high_income": money("high_income"),
        "expenses": expenses, "expenses_total": total_expenses, "other_debts": debts,
        "savings": money("savings"), "dependants": answers.get("dependants"), "left": left,
        "any": any(value not in (None, {}, []) for value in answers.values()),
    }


def _options(data: dict) -> list[dict[str, Any]]:
    """The options shown (ids like ``step_up-13``: structure and number of payments)."""
    chosen = data.get("chosen")
    shown = []
    for option_id in data.get("options") or []:
        structure, _, term = str(option_id).rpartition("-")
        if not term.isdigit():
            structure, term = str(option_id), ""
        shown.append({"id": option_id, "structure": structure, "term": term, "chosen": option_id == chosen})
    return shown


# ------------------------------------------------------------------ the application


def create_app(store: Store, settings: Settings, translator: Translator, *,
               clock: Callable[[], datetime] | None = None, secure_cookies: bool = False) -> Starlette:
    """The support console over `store` (see the module docstring)."""
    console = Console(store, settings, translator, clock or store.clock, secure_cookies)
    tz = settings.tz

    def set_cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="strict",
                            secure=secure_cookies)

    # -------------------------------------------------------------- login and logout

    async def login_page(request: Request) -> Response:
        if request.scope["support"]["agent"] is not None:
            return RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303)
        return login_form(request, problem=None, status_code=200, next_page=request.query_params.get("next"))

    def login_form(request: Request, problem: str | None, status_code: int, name: str = "",
                   next_page: str | None = None) -> Response:
        # keep the token the browser already has: a second login page (another tab, or the
        # browser's own /favicon.ico request sent here) must not invalidate the first form
        token = request.scope["support"]["cookies"].get(LOGIN_CSRF_COOKIE, "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{32}", token):
            token = secrets.token_urlsafe(24)
        response = console.render(request, "login.html", status_code, problem=problem, csrf=token, name=name,
                                  next=_safe_next(next_page))
        set_cookie(response, LOGIN_CSRF_COOKIE, token, 3600)
        return response

    async def login_submit(request: Request) -> Response:
        form = await request.form(max_files=0, max_fields=10)
        expected = request.scope["support"]["cookies"].get(LOGIN_CSRF_COOKIE, "")
        next_page = str(form.get("next", ""))
        if not expected or not _same_origin(request) or \
                not hmac.compare_digest(str(form.get("csrf", "")).encode(), expected.encode()):
            return login_form(request, "support.login.expired", 403, next_page=next_page)
        name, password = str(form.get("name", "")), str(form.get("password", ""))
        client = request.client.host if request.client else None
        try:
            token = support_auth.login(console.store, name, password, client=client, now=console.clock())
        except support_auth.LoginLocked:
            return login_form(request, "support.login.locked", 429, name=name, next_page=next_page)
        except support_auth.LoginFailed:
            return login_form(request, "support.login.failed", 401, name=name, next_page=next_page)
        response = RedirectResponse(_safe_next(next_page), status_code=303)
        set_cookie(response, SESSION_COOKIE, token, int(support_auth.SESSION_LIFETIME.total_seconds()))
        response.delete_cookie(LOGIN_CSRF_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    async def logout(request: Request) -> Response:
        await _checked_form(request)
        support_auth.logout(console.store, _agent(request).token)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
        return response

    # -------------------------------------------------------------- search

    async def search(request: Request) -> Response:
        query = request.query_params
        fields = {key: query.get(key, "").strip() for key in ("loan", "name", "phone", "step", "from", "to")}
        fields["person"] = query.get("person", "") == "1"
        problems = []
        if fields["phone"] and not re.fullmatch(r"\d{4}", fields["phone"]):
            problems.append("support.search.bad_phone")
        try:
            day_from, day_to = _parse_day(fields["from"]), _parse_day(fields["to"])
        except ValueError:
            day_from = day_to = None
            problems.append("support.search.bad_date")
        rows: list[dict] = []
        if not problems:
            rows = console.store.search_conversations(
                loan_id=fields["loan"] or None, name=fields["name"] or None, phone_last4=fields["phone"] or None,
                step=fields["step"] or None, needs_person=True if fields["person"] else None,
                active_from=day_start(day_from, tz) if day_from else None,
                active_to=day_start(day_to + timedelta(days=1), tz) if day_to else None,
                limit=SEARCH_LIMIT,
            )
        results = [{**row, "name": mask_name(row["name"]), "phone": mask_phone(row["phone"]),
                    "updated_at": row["updated_at"].astimezone(tz)} for row in rows]
        searched = any(value for value in fields.values())
        return console.render(request, "search.html", 400 if problems else 200, fields=fields, results=results,
                              problems=problems, steps=console.store.conversation_steps(), searched=searched,
                              limit=SEARCH_LIMIT)

    # -------------------------------------------------------------- a conversation

    def conversation_page(request: Request, chat_id: int, *, reveal: bool = False, problem: str | None = None,
                          reason: str = "", status_code: int = 200) -> Response:
        store = console.store
        conversation = store.support_conversation(chat_id)
        entries = build_transcript(store, tz, chat_id=chat_id, reveal=reveal)
        if conversation is None and not entries:
            raise HTTPException(404)
        conversation = conversation or {"chat_id": chat_id, "borrower_id": None, "loan_id": None, "step": "-",
                                        "data": {}, "needs_person": False, "name": None, "phone": None,
                                        "id_last4": None, "currency": None, "updated_at": None, "locale": None}
        names = [conversation["name"]] + store.borrower_names_of_chats([chat_id])

        def clean(text: str | None) -> str:
            return (text or "") if reveal else mask_text(text, names)

        currency = conversation["currency"] or "CNY"
        finances = _finances(conversation["data"], currency)
        finances["reason_text"] = clean(finances["reason_text"]) or None
        plans = []
        for plan in store.plans_for_support(borrower_id=conversation["borrower_id"], loan_id=conversation["loan_id"]):
            plans.append({**plan, "installments": store.installments_for_support(plan["id"]),
                          "reminders": [{**r, "send_at": r["send_at"].astimezone(tz),
                                         "sent_at": r["sent_at"].astimezone(tz) if r["sent_at"] else None}
                                        for r in store.reminders_for_support(plan["id"])],
                          "accepted_at": plan["accepted_at"].astimezone(tz)})
        notes = [{**note, "text": clean(note["text"]), "at": note["at"].astimezone(tz)}
                 for note in store.support_notes(chat_id)]
        person = {
            "name": (conversation["name"] or "") if reveal else mask_name(conversation["name"]),
            "phone": (conversation["phone"] or "") if reveal else mask_phone(conversation["phone"]),
            "id_last4": conversation["id_last4"],
        }
        updated = conversation["updated_at"].astimezone(tz) if conversation["updated_at"] else None
        return console.render(
            request, "conversation.html", status_code, conversation=conversation, person=person, updated=updated,
            entries=entries, finances=finances, options=_options(conversation["data"]), plans=plans, notes=notes,
            reveal=reveal, problem=problem, reason=reason, csrf=_agent(request).csrf, max_note=MAX_NOTE,
            page_path=f"/conversations/{chat_id}",  # language links after a POST go back to the page
        )

    async def conversation(request: Request) -> Response:
        return conversation_page(request, request.path_params["chat_id"])

    async def add_note(request: Request) -> Response:
        chat_id = request.path_params["chat_id"]
        form = await _checked_form(request)
        text = str(form.get("text", "")).strip()
        if not text or len(text) > MAX_NOTE:
            return conversation_page(request, chat_id, problem="support.notes.bad_text", status_code=400)
        store = console.store
        if store.support_conversation(chat_id) is None and not store.chat_messages([chat_id]):
            raise HTTPException(404)
        try:
            store.add_support_note(chat_id, _agent(request).id, text, console.clock())
        except StoreError:
            return conversation_page(request, chat_id, problem="support.notes.bad_text", status_code=400)
        return RedirectResponse(f"/conversations/{chat_id}#notes", status_code=303)

    async def reveal(request: Request) -> Response:
        chat_id = request.path_params["chat_id"]
        form = await _checked_form(request)
        reason = " ".join(str(form.get("reason", "")).split())
        if len(reason) < 5 or len(reason) > MAX_REASON:
            return conversation_page(request, chat_id, problem="support.reveal.need_reason", reason=reason,
                                     status_code=400)
        store = console.store
        found = store.support_conversation(chat_id)
        if found is None and not store.chat_messages([chat_id]):
            raise HTTPException(404)
        agent = _agent(request)
        store.audit("pii_revealed", at=console.clock(), chat_id=chat_id,
                    borrower_id=found["borrower_id"] if found else None, loan_id=found["loan_id"] if found else None,
                    agent=agent.name, agent_id=agent.id, reason=reason)
        return conversation_page(request, chat_id, reveal=True)

    async def transcript_json(request: Request) -> Response:
        entries = build_transcript(console.store, tz, chat_id=request.path_params["chat_id"])
        return Response(json.dumps([entry.as_dict() for entry in entries], ensure_ascii=False),
                        media_type="application/json")

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if _wants_json(request.scope):
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        key = {403: "support.error.forbidden", 404: "support.error.not_found"}.get(exc.status_code,
                                                                                    "support.error.other")
        if "support" not in request.scope:
            request.scope["support"] = {"agent": None, "locale": settings.default_locale, "cookies": {}}
        return console.render(request, "error.html", exc.status_code, message=key)

    async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
        yield
        console.stores.close()

    routes = [
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/", search, methods=["GET"]),
        Route("/conversations/{chat_id:int}", conversation, methods=["GET"]),
        Route("/conversations/{chat_id:int}/notes", add_note, methods=["POST"]),
        Route("/conversations/{chat_id:int}/reveal", reveal, methods=["POST"]),
        Route("/conversations/{chat_id:int}/transcript.json", transcript_json, methods=["GET"]),
        Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, middleware=[Middleware(_Gate, console=console)],
                    exception_handlers={HTTPException: on_http_error}, lifespan=asynccontextmanager(lifespan))
    app.state.console = console
    return app
