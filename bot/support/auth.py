"""Support staff accounts: passwords, logins that back off after failures, and console sessions.

* Passwords are hashed with scrypt (stdlib `hashlib.scrypt`, memory-hard, no new dependency)
  with a random 16-byte salt, stored as one self-describing string
  ``scrypt$n=32768,r=8,p=1$<salt base64>$<hash base64>`` so the cost can be raised later
  without breaking stored hashes; checked with a constant-time comparison.  The web console
  hashes in worker threads (`Hashing`: at most 2 at once, 8 more waiting, beyond that
  `LoginBusy` at once), so a flood of logins never stalls the pages agents are reading.
* A login fails the same way for an unknown name, a disabled account and a wrong password
  (and spends the same scrypt time), so the form does not reveal which names exist.
* Failures make logins back off, per name and per client address: after `NAME_FREE_FAILURES`
  wrong passwords for a name (since its last successful login), or `ADDRESS_FREE_FAILURES`
  from one address within `ADDRESS_WINDOW` (any names), the next attempt waits 1 minute after
  the last failure, then 2, 4, 8, up to 15 minutes (`LoginLocked`, with the time).  An attempt
  refused while backing off is recorded but checks no password and counts as no failure, so
  a guesser gets a few tries an hour and cannot keep the name locked by knocking.  A correct
  password still passes from a KNOWN client - a browser that signed in as that name before
  (`KNOWN_BROWSER_COOKIE`, 90 days) or an address it signed in from in the last 30 days: such a
  client backs off only for its own failures.  Refusals and known-client passes are logged.
* A session is a random 32-byte token given to the browser; only its SHA-256 is stored. It
  ends `SESSION_LIFETIME` after login, after `IDLE_TIMEOUT` without a request, at logout, or
  when the account is disabled.  The CSRF token of a session is derived from its secret token
  (HMAC), so it needs no storage and cannot be computed by anyone who lacks the cookie.

Errors (all `bot.errors.BotError`, so the CLI shows one line): `AccountError` for bad names or
passwords at creation, `LoginFailed`, `LoginLocked` and `LoginBusy` for logins.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.errors import BotError
from bot.store import Store

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1  # ~32 MiB and ~0.1 s per hash
SALT_BYTES, KEY_BYTES = 16, 32
MIN_PASSWORD_LENGTH = 10

NAME_FREE_FAILURES = 5
ADDRESS_FREE_FAILURES = 20
ADDRESS_WINDOW = timedelta(minutes=15)
FAILURE_MEMORY = timedelta(hours=24)  # a name's failures older than this are forgotten
FIRST_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(minutes=15)
KNOWN_ADDRESS_FOR = timedelta(days=30)
KNOWN_BROWSER_FOR = timedelta(days=90)
KNOWN_BROWSER_COOKIE = "support_known"
HASHES_AT_ONCE, HASHES_WAITING = 2, 8
SESSION_LIFETIME = timedelta(hours=8)
IDLE_TIMEOUT = timedelta(minutes=30)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
log = logging.getLogger(__name__)


class AccountError(BotError):
    """A support account cannot be created or changed as asked."""


class LoginFailed(BotError):
    """Wrong name or password (deliberately not saying which)."""


class LoginLocked(BotError):
    """Too many failed logins for this name or from this address: backing off until `until`."""

    def __init__(self, message: str, until: datetime) -> None:
        super().__init__(message)
        self.until = until


class LoginBusy(BotError):
    """Too many logins are being checked right now; try again in a moment."""


# ------------------------------------------------------------------ passwords


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$n=..,r=..,p=..$salt$hash`` for `password` with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 1024 * 1024, dklen=KEY_BYTES
    )
    return f"scrypt$n={n},r={r},p={p}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True if `password` matches the stored hash; False for any malformed stored value."""
    try:
        scheme, params, salt_text, key_text = stored.split("$")
        cost = dict(item.split("=") for item in params.split(","))
        n, r, p = int(cost["n"]), int(cost["r"]), int(cost["p"])
        salt, expected = base64.b64decode(salt_text, validate=True), base64.b64decode(key_text, validate=True)
    except (ValueError, KeyError):
        return False
    if scheme != "scrypt" or not expected:
        return False
    key = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=256 * n * r + 1024 * 1024, dklen=len(expected)
    )
    return hmac.compare_digest(key, expected)


#: Checked against when the name is unknown, so that case costs the same time.
_DUMMY_HASH = "scrypt$n=32768,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$" + _b64(bytes(KEY_BYTES))


# ------------------------------------------------------------------ accounts


def check_new_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if password != password.strip():
        raise AccountError("the password must not start or end with a space")


def add_user(store: Store, name: str, password: str, **cost: int) -> int:
    """Create an account; AccountError for a bad name or weak password, StoreError if it exists."""
    if not _NAME.fullmatch(name):
        raise AccountError(f"bad name {name!r}: use 1-64 letters, digits and . _ @ - (starting with a letter or digit)")
    check_new_password(password)
    return store.add_support_user(name, hash_password(password, **cost))


# ------------------------------------------------------------------ logins and sessions


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def csrf_token(session_token: str) -> str:
    """The CSRF token that goes with a session (derived, never stored)."""
    return hmac.new(session_token.encode("ascii", "replace"), b"support-console-csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Agent:
    """A logged-in support agent, as a request sees it."""

    id: int
    name: str
    token: str  # the session's secret (from the cookie)

    @property
    def csrf(self) -> str:
        return csrf_token(self.token)


def backoff(failures: int, free: int) -> timedelta | None:
    """How long after the last failure the next attempt must wait (None: no wait)."""
    if failures < free:
        return None
    return min(FIRST_BACKOFF * 2 ** min(failures - free, 10), MAX_BACKOFF)


def known_browser(store: Store, name: str, browser: str | None, now: datetime) -> bool:
    """Did `name` sign in from the browser holding the known-browser token `browser`?"""
    return (
        browser is not None
        and 0 < len(browser) <= 128
        and store.support_browser_known(name.strip()[:64], token_hash(browser), now - KNOWN_BROWSER_FOR)
    )


def _admit(store: Store, name: str, client: str | None, browser: str | None, now: datetime) -> None:
    """Refuse (LoginLocked, recorded and logged) an attempt made while backing off."""
    from_browser = known_browser(store, name, browser, now)
    from_address = client is not None and store.support_login_succeeded(name, client, now - KNOWN_ADDRESS_FOR)
    known = from_browser or from_address
    waits: list[datetime] = []
    count, last = store.support_login_failures(since=now - FAILURE_MEMORY, name=name, client=client if known else None)
    if last is not None and (delay := backoff(count, NAME_FREE_FAILURES)) is not None:
        waits.append(last + delay)
    if client is not None and not from_browser:
        count, last = store.support_login_failures(since=now - ADDRESS_WINDOW, client=client)
        if last is not None and (delay := backoff(count, ADDRESS_FREE_FAILURES)) is not None:
            waits.append(last + delay)
    until = max(waits, default=None)
    if until is not None and now < until:
        store.record_support_login(name, client, False, now, refused=True)
        log.warning(
            "support login for %r from %s refused unchecked: backing off until %s",
            name,
            client,
            until.isoformat(timespec="seconds"),
        )
        raise LoginLocked(f"too many failed logins for {name!r} or from {client}", until)
    if (
        known
        and backoff(store.support_login_failures(since=now - FAILURE_MEMORY, name=name)[0], NAME_FREE_FAILURES)
        is not None
    ):
        log.info(
            "support login for %r from %s passes the name's back-off: known %s",
            name,
            client,
            "browser" if from_browser else "address",
        )


def _finish(store: Store, name: str, user: dict | None, ok: bool, client: str | None, now: datetime) -> str:
    """Record the attempt; a new session token, or LoginFailed."""
    ok = ok and user is not None and not user["disabled"]
    store.record_support_login(name, client, ok, now)
    if not ok or user is None:
        raise LoginFailed("wrong name or password")
    token = secrets.token_urlsafe(32)
    store.create_support_session(token_hash(token), user["id"], now, now + SESSION_LIFETIME)
    return token


def _stored_hash(user: dict | None) -> str:
    return user["password_hash"] if user else _DUMMY_HASH


def login(
    store: Store, name: str, password: str, *, client: str | None, now: datetime, browser: str | None = None
) -> str:
    """A new session token for `name`, or LoginFailed / LoginLocked. Every attempt is recorded.
    `browser` is the client's known-browser token, if it has one."""
    name = name.strip()[:64]
    _admit(store, name, client, browser, now)
    user = store.support_user(name)
    return _finish(store, name, user, verify_password(password, _stored_hash(user)), client, now)


async def login_in_worker(
    store: Store, name: str, password: str, *, client: str | None, now: datetime, browser: str | None, hashing: Hashing
) -> str:
    """`login`, with the password hashed by `hashing` off the event loop (LoginBusy if full)."""
    name = name.strip()[:64]
    _admit(store, name, client, browser, now)
    user = store.support_user(name)
    return _finish(store, name, user, await hashing.verify(password, _stored_hash(user)), client, now)


def remember_browser(store: Store, name: str, now: datetime) -> str:
    """A token for the known-browser cookie of `name`'s browser (only its hash is stored)."""
    user = store.support_user(name.strip()[:64])
    if user is None:
        raise LoginFailed("wrong name or password")
    token = secrets.token_urlsafe(32)
    store.remember_support_browser(token_hash(token), user["id"], now)
    return token


class Hashing:
    """Password checks in worker threads: `at_once` run, `waiting` more queue, any more are
    refused at once (LoginBusy) - a bounded cost, whatever arrives."""

    def __init__(self, at_once: int = HASHES_AT_ONCE, waiting: int = HASHES_WAITING) -> None:
        self._executor = ThreadPoolExecutor(max_workers=at_once, thread_name_prefix="scrypt")
        self._capacity = at_once + waiting
        self._in_flight = 0
        self._lock = threading.Lock()

    async def verify(self, password: str, stored: str) -> bool:
        with self._lock:
            if self._in_flight >= self._capacity:
                raise LoginBusy("too many logins at once")
            self._in_flight += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, lambda: verify_password(password, stored)
            )
        finally:
            with self._lock:
                self._in_flight -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def session_agent(store: Store, token: str | None, *, now: datetime) -> Agent | None:
    """The agent of a valid session (and the session's idle clock restarted), or None."""
    if not token or len(token) > 128:
        return None
    hashed = token_hash(token)
    session = store.support_session(hashed)
    if session is None:
        return None
    last_seen = session["last_seen_at"] or session["created_at"]
    if session["disabled"] or now >= session["expires_at"] or now - last_seen >= IDLE_TIMEOUT:
        store.delete_support_session(hashed)
        return None
    store.touch_support_session(hashed, now)
    return Agent(session["user_id"], session["name"], token)


def logout(store: Store, token: str | None) -> None:
    if token:
        store.delete_support_session(token_hash(token))
