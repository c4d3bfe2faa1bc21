"""What every console handler shares: the `Console` (store, settings, translator, clock, page
rendering) and small request helpers (the agent, CSRF-checked forms, validated parameters).

Handlers are module-level functions that find the console at ``request.app.state.console``
(set by `bot.support.web.app.create_app`).

SQLite connections belong to the thread that opened them, and a server may answer from another
thread than the one that opened the store (Starlette's TestClient always does): the console
uses the store it is given in the thread that made it, and opens its own Store on the same
file in any other thread (WAL lets them share it).
"""

from __future__ import annotations

import contextlib
import hmac
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

from markupsafe import Markup
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Scope

from bot.config import Settings
from bot.i18n import LOCALES, Translator, make_filters
from bot.store import Store
from bot.support import auth as support_auth
from bot.support.transcripts import page_environment

#: SQLite's INTEGER is 64-bit: a chat id outside it cannot be stored, so it names nothing (404).
MAX_CHAT_ID = 2**63 - 1


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
                raise RuntimeError(
                    "the support console needs a database file, not :memory:, when it serves from another thread"
                )
            store = Store(self.first.path, clock=self.first.clock)
            self.local.store = store
            with self.lock:
                self.opened.append(store)
        return store

    def close(self) -> None:
        with self.lock:
            opened, self.opened = self.opened, []
        for store in opened:
            with contextlib.suppress(Exception):  # another thread's connection; the process ends anyway
                store.close()


class Console:
    """The console's services, one per application."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        translator: Translator,
        clock: Callable[[], datetime],
        secure_cookies: bool,
    ) -> None:
        self.stores = _Stores(store)
        self.settings = settings
        self.translator = translator
        self.clock = clock
        self.secure_cookies = secure_cookies
        self.env = page_environment(translator)
        self.hashing = support_auth.Hashing()

    @property
    def store(self) -> Store:
        return self.stores.get()

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz

    def locale_of(self, scope: Scope) -> str:
        return scope.get("support", {}).get("locale", self.settings.default_locale)

    def set_cookie(self, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(
            name, value, max_age=max_age, path="/", httponly=True, samesite="strict", secure=self.secure_cookies
        )

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
            t=t,
            label=label,
            tr_or=tr_or,
            locale=locale,
            locales=LOCALES,
            agent=agent,
            waiting=self.store.waiting_count,  # asked by the pages that show it
            path=link_path(context.pop("page_path", None) or request.url.path),
            f=make_filters(locale),
            tz=self.settings.tz,
            **context,
        )
        return HTMLResponse(html, status_code=status_code)


def console_of(request: Request) -> Console:
    return request.app.state.console


def link_path(path: str) -> str:
    """`path` as a link to a page of this site: one leading slash, no backslash, escaped.
    A browser reads ``//evil.example/x`` (or ``/\\evil.example``) as a link to another host."""
    return "/" + quote(path.lstrip("/\\"), safe="/-._~!$'()*+,;=:@")


# ------------------------------------------------------------------ request helpers


def agent_of(request: Request) -> support_auth.Agent:
    return request.scope["support"]["agent"]


def chat_id_param(request: Request) -> int:
    """The ``{chat_id}`` of the path; an id no database can hold names no conversation (404)."""
    chat_id = request.path_params["chat_id"]
    if not -MAX_CHAT_ID <= chat_id <= MAX_CHAT_ID:
        raise HTTPException(404)
    return chat_id


def same_origin(request: Request) -> bool:
    """False only for a request that says it comes from another site (the CSRF token is the
    real check; browsers send no Origin, or "null", in some cases)."""
    origin = request.headers.get("origin")
    if not origin or origin == "null":
        return True
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", "") and parts.scheme in ("http", "https")


async def checked_form(request: Request) -> FormData:
    """The POSTed form, if its CSRF token is this session's; 403 otherwise."""
    form = await request.form(max_files=0, max_fields=20)
    token = str(form.get("csrf", ""))
    if not same_origin(request) or not hmac.compare_digest(token.encode(), agent_of(request).csrf.encode()):
        raise HTTPException(403, "csrf")
    return form


def safe_next(target: str | None) -> str:
    """Only a path on this site (no //host, no scheme) may be the page after login."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"
