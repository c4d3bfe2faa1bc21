"""What every request passes, as plain ASGI middleware.

`Shield` is outermost - outside even Starlette's own error middleware, so that a 500 gets it too:

* every response: ``Cache-Control: no-store`` (pages hold personal data), a strict Content
  Security Policy (no scripts at all, styles from /static only), no framing, and no referrer
  to other sites;
* no request body over `MAX_BODY`: a larger Content-Length is refused (413) before anything is
  read, and a body sent without one is cut off as soon as it passes the limit.

`Gate` is next:

* Default deny: every path except ``/login`` and ``/static/...`` needs a live session; without
  one a page request is redirected to ``/login?next=...`` and a JSON request (``*.json`` or
  ``Accept: application/json``) gets 401.  A route added later is protected without a thought.
* The language: ``?lang=`` (remembered in a cookie), else the cookie, else BOT_DEFAULT_LOCALE.
"""

from __future__ import annotations

import re
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.types import Message, Receive, Scope, Send

from bot.i18n import LOCALES
from bot.support import auth as support_auth
from bot.support.web.console import Console

SESSION_COOKIE = "support_session"
LOGIN_CSRF_COOKIE = "support_login_csrf"
LANGUAGE_COOKIE = "support_lang"
PUBLIC_PATHS = ("/login",)
PUBLIC_PREFIXES = ("/static/",)
MAX_BODY = 64 * 1024  # the largest form (a 4,000-character note in Chinese, percent-encoded) is ~36 KiB

_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; frame-src 'self'; form-action 'self'; "
    "frame-ancestors {ancestors}; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"cache-control", b"no-store"),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),  # search terms in URLs never go to another site
    (b"content-security-policy", _CSP.format(ancestors="'none'").encode()),
]
#: The live frame of a conversation (`bot.support.web.handoff`) may be framed by the console
#: itself, and by nothing else.
FRAME = re.compile(r"/conversations/\d+/live")
FRAMED_HEADERS = [
    (
        name,
        {b"x-frame-options": b"SAMEORIGIN", b"content-security-policy": _CSP.format(ancestors="'self'").encode()}.get(
            name, value
        ),
    )
    for name, value in SECURITY_HEADERS
]


def cookies_of(scope: Scope) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is no cookie
                return {}
    return {key: morsel.value for key, morsel in jar.items()}


def header_of(scope: Scope, wanted: bytes) -> str:
    for name, value in scope.get("headers", []):
        if name == wanted:
            return value.decode("latin-1")
    return ""


def wants_json(scope: Scope) -> bool:
    accept = header_of(scope, b"accept")
    return scope["path"].endswith(".json") or ("application/json" in accept and "text/html" not in accept)


def _query_language(scope: Scope) -> str | None:
    match = re.search(r"(?:^|&)lang=([A-Za-z_]+)", scope.get("query_string", b"").decode("latin-1"))
    return match.group(1) if match and match.group(1) in LOCALES else None


def with_headers(message: Message, extra: list[tuple[bytes, bytes]]) -> Message:
    """A response start `message` with the `extra` headers (replacing any of the same name,
    except Set-Cookie, which may repeat)."""
    names = {name for name, _ in extra if name != b"set-cookie"}
    headers = [(n, v) for n, v in message.get("headers", []) if n.lower() not in names]
    return {**message, "headers": headers + extra}


class _HttpMiddleware:
    """Pure ASGI middleware that looks at HTTP requests only (`http`); anything else, such as
    the server's lifespan messages, passes straight through to `app`."""

    app: Any

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.http(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class Shield(_HttpMiddleware):
    """Security headers on every response, and the body-size limit (outermost)."""

    def __init__(self, app: Any, max_body: int = MAX_BODY) -> None:
        self.app = app
        self.max_body = max_body

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = FRAMED_HEADERS if FRAME.fullmatch(scope["path"]) else SECURITY_HEADERS

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = with_headers(message, headers)
            await send(message)

        declared = header_of(scope, b"content-length")
        if declared and (not declared.isdigit() or int(declared) > self.max_body):
            refused = PlainTextResponse(
                f"Request body too large (at most {self.max_body // 1024} KiB).", 413, headers={"connection": "close"}
            )
            await refused(scope, receive, send_secured)
            return
        received = 0

        async def receive_limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:  # raised in the handler reading the body: an error page
                    raise HTTPException(413, "request body too large")
            return message

        await self.app(scope, receive_limited, send_secured)


class Gate(_HttpMiddleware):
    """Default-deny authentication and the agent's language."""

    def __init__(self, app: Any, console: Console) -> None:
        self.app = app
        self.console = console

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        cookies = cookies_of(scope)
        chosen = _query_language(scope)
        locale = (
            chosen
            or (cookies.get(LANGUAGE_COOKIE) if cookies.get(LANGUAGE_COOKIE) in LOCALES else None)
            or self.console.settings.default_locale
        )
        extra_headers = []
        if chosen:
            extra_headers.append(
                (
                    b"set-cookie",
                    (
                        f"{LANGUAGE_COOKIE}={chosen}; Path=/; Max-Age=31536000; SameSite=Strict; HttpOnly"
                        + ("; Secure" if self.console.secure_cookies else "")
                    ).encode("latin-1"),
                )
            )

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = with_headers(message, extra_headers)
            await send(message)

        path = scope["path"]
        agent = None
        if path not in PUBLIC_PATHS and not path.startswith(PUBLIC_PREFIXES):
            agent = support_auth.session_agent(
                self.console.store, cookies.get(SESSION_COOKIE), now=self.console.clock()
            )
            if agent is None:
                response: Response
                if wants_json(scope):
                    response = JSONResponse({"error": "login required"}, status_code=401)
                else:
                    query_string = scope.get("query_string")
                    target = path + ("?" + query_string.decode("latin-1") if query_string else "")
                    if scope["method"] not in ("GET", "HEAD"):
                        target = "/"  # a form posted after the session ended: start again from the search
                    response = RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)
                    if cookies.get(SESSION_COOKIE):
                        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
                await response(scope, receive, send_with_headers)
                return
        elif path in PUBLIC_PATHS:
            agent = support_auth.session_agent(
                self.console.store, cookies.get(SESSION_COOKIE), now=self.console.clock()
            )
        scope["support"] = {"agent": agent, "locale": locale, "cookies": cookies}
        await self.app(scope, receive, send_with_headers)
