"""Signing in and out of the console.

The login form uses a double-submit cookie for CSRF (there is no session yet); the session
cookie is HttpOnly and SameSite=Strict. Limits on failed logins live in `bot.support.auth`.
"""

from __future__ import annotations

import hmac
import re
import secrets

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.support import auth as support_auth
from bot.support.web.console import (
    agent_of,
    checked_form,
    console_of,
    safe_next,
    same_origin,
)
from bot.support.web.gate import LOGIN_CSRF_COOKIE, SESSION_COOKIE


async def login_page(request: Request) -> Response:
    if request.scope["support"]["agent"] is not None:
        return RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
    return _login_form(request, problem=None, status_code=200, next_page=request.query_params.get("next"))


def _login_form(
    request: Request, problem: str | None, status_code: int, name: str = "", next_page: str | None = None
) -> Response:
    console = console_of(request)
    # keep the token the browser already has: a second login page (another tab, or the
    # browser's own /favicon.ico request sent here) must not invalidate the first form
    token = request.scope["support"]["cookies"].get(LOGIN_CSRF_COOKIE, "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{32}", token):
        token = secrets.token_urlsafe(24)
    response = console.render(
        request, "login.html", status_code, problem=problem, csrf=token, name=name, next=safe_next(next_page)
    )
    console.set_cookie(response, LOGIN_CSRF_COOKIE, token, 3600)
    return response


async def login_submit(request: Request) -> Response:
    console = console_of(request)
    form = await request.form(max_files=0, max_fields=10)
    expected = request.scope["support"]["cookies"].get(LOGIN_CSRF_COOKIE, "")
    next_page = str(form.get("next", ""))
    if (
        not expected
        or not same_origin(request)
        or not hmac.compare_digest(str(form.get("csrf", "")).encode(), expected.encode())
    ):
        return _login_form(request, "support.login.expired", 403, next_page=next_page)
    name, password = str(form.get("name", "")), str(form.get("password", ""))
    client = request.client.host if request.client else None
    browser = request.scope["support"]["cookies"].get(support_auth.KNOWN_BROWSER_COOKIE)
    now = console.clock()
    try:
        token = await support_auth.login_in_worker(
            console.store, name, password, client=client, now=now, browser=browser, hashing=console.hashing
        )
    except support_auth.LoginLocked as locked:
        response = _login_form(request, "support.login.locked", 429, name=name, next_page=next_page)
        response.headers["retry-after"] = str(max(1, int((locked.until - now).total_seconds()) + 1))
        return response
    except support_auth.LoginBusy:
        response = _login_form(request, "support.login.busy", 503, name=name, next_page=next_page)
        response.headers["retry-after"] = "5"
        return response
    except support_auth.LoginFailed:
        return _login_form(request, "support.login.failed", 401, name=name, next_page=next_page)
    response = RedirectResponse(safe_next(next_page), status_code=303)
    console.set_cookie(response, SESSION_COOKIE, token, int(support_auth.SESSION_LIFETIME.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/", httponly=True, samesite="strict")
    # remember this browser: its right password passes a back-off started elsewhere
    if not support_auth.known_browser(console.store, name, browser, now):
        response.set_cookie(
            support_auth.KNOWN_BROWSER_COOKIE,
            support_auth.remember_browser(console.store, name, now),
            max_age=int(support_auth.KNOWN_BROWSER_FOR.total_seconds()),
            path="/login",
            httponly=True,
            samesite="strict",
            secure=console.secure_cookies,
        )
    return response


async def logout(request: Request) -> Response:
    await checked_form(request)
    support_auth.logout(console_of(request).store, agent_of(request).token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
