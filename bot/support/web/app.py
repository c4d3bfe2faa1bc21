"""The support console's application: every route in one list, the gate around them.

Why Starlette + uvicorn (and not Datasette): the console is a handful of pages over queries the
project already has (transcripts with masking, plans, reminders), rendered with the project's
own Jinja2 and Babel, in both languages from the project's catalogues.  Datasette would
expose tables and SQL to the browser - the opposite of "masked unless a reason is given" - and
hiding that needs its own plugins, templates and permission rules.  Starlette gives routing,
forms (python-multipart) and a test client (httpx) and nothing more; uvicorn serves it.

Security, in the order a request meets it:

* `bot.support.web.gate.Shield`, outside everything (Starlette's error middleware included):
  security headers on every response, 500s too; request bodies of at most 64 KiB.
* Starlette's error middleware: an unexpected error is logged and answered with the console's
  error page (or ``{"error": "server error"}``), never a traceback.
* `bot.support.web.gate.Gate`: default deny (a session for every page but ``/login`` and
  ``/static/``), the agent's language.
* Sessions: a random token in an HttpOnly, SameSite=Strict cookie (Secure with
  ``secure_cookies``); only its SHA-256 is stored; 8 hours at most, 30 minutes idle
  (`bot.support.auth`).  Failed logins back off per name and per address; passwords are
  hashed in worker threads, a bounded number at once.
* Parameters are validated: a bad date is a 400, a chat id no database can hold a 404.
* CSRF: every POST carries a per-session token in a hidden field (derived from the session
  secret); the login form uses a double-submit cookie.  A cross-site ``Origin`` is refused.
* Personal data is masked on every page; revealing it takes a typed reason and is audited
  (`bot.support.web.conversation`).
* Search terms (names, phone digits) travel in query strings, so uvicorn's access log is off
  (`restructure-bot support`).

Handlers are ``async`` and short, so uvicorn serves them all from its event-loop thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from bot.config import Settings
from bot.i18n import Translator
from bot.store import Store
from bot.support.transcripts import STATIC
from bot.support.web import conversation, handoff, login, search
from bot.support.web.console import Console, console_of
from bot.support.web.gate import Gate, Shield, wants_json

ROUTES = [
    Route("/login", login.login_page, methods=["GET"]),
    Route("/login", login.login_submit, methods=["POST"]),
    Route("/logout", login.logout, methods=["POST"]),
    Route("/", search.search, methods=["GET"]),
    Route("/queue", handoff.queue, methods=["GET"]),
    Route("/conversations/{chat_id:int}", conversation.conversation, methods=["GET"]),
    Route("/conversations/{chat_id:int}/notes", conversation.add_note, methods=["POST"]),
    Route("/conversations/{chat_id:int}/reveal", conversation.reveal, methods=["POST"]),
    Route("/conversations/{chat_id:int}/transcript.json", conversation.transcript_json, methods=["GET"]),
    Route("/conversations/{chat_id:int}/live", handoff.live, methods=["GET"]),
    Route("/conversations/{chat_id:int}/reply", handoff.reply, methods=["POST"]),
    Route("/conversations/{chat_id:int}/close", handoff.close, methods=["POST"]),
    Mount("/static", app=StaticFiles(directory=STATIC), name="static"),
]


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if wants_json(request.scope):
        return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
    console = console_of(request)
    key = {403: "support.error.forbidden", 404: "support.error.not_found"}.get(exc.status_code, "support.error.other")
    if "support" not in request.scope:
        request.scope["support"] = {"agent": None, "locale": console.settings.default_locale, "cookies": {}}
    return console.render(request, "error.html", exc.status_code, message=key)


async def on_server_error(request: Request, exc: Exception) -> Response:
    """An unexpected error (Starlette logs it and raises it on to the server, which logs it)."""
    if wants_json(request.scope):
        return JSONResponse({"error": "server error"}, status_code=500)
    try:
        return console_of(request).render(request, "error.html", 500, message="support.error.other")
    except Exception:  # noqa: BLE001 - the page itself cannot be made: say it plainly
        return PlainTextResponse("Something went wrong.", status_code=500)


class _ConsoleApp(Starlette):
    """Starlette with `Shield` outside its error middleware (user middleware sits inside it)."""

    def build_middleware_stack(self) -> ASGIApp:
        return Shield(super().build_middleware_stack())


def create_app(
    store: Store,
    settings: Settings,
    translator: Translator,
    *,
    clock: Callable[[], datetime] | None = None,
    secure_cookies: bool = False,
) -> Starlette:
    """The support console over `store` (see the module docstring)."""
    console = Console(store, settings, translator, clock or store.clock, secure_cookies)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        console.stores.close()
        console.hashing.close()

    app = _ConsoleApp(
        routes=ROUTES,
        middleware=[Middleware(Gate, console=console)],
        exception_handlers={HTTPException: on_http_error, Exception: on_server_error},
        lifespan=lifespan,
    )
    app.state.console = console
    return app
