"""Support staff accounts: passwords, logins with a failure limit, and console sessions.

* Passwords are hashed with scrypt (stdlib `hashlib.scrypt`, memory-hard, no new dependency)
  with a random 16-byte salt, stored as one self-describing string
  ``scrypt$n=32768,r=8,p=1$<salt base64>$<hash base64>`` so the cost can be raised later
  without breaking stored hashes; checked with a constant-time comparison.
* A login fails the same way for an unknown name, a disabled account and a wrong password
  (and spends the same scrypt time), so the form does not reveal which names exist.
* After `MAX_FAILURES` failed attempts for one name within `FAILURE_WINDOW` the name is
  locked (`LoginLocked`) until the window has passed; every attempt, locked ones included,
  is recorded in `support_login_attempts`.  A locked attempt counts as a failure, so someone
  guessing keeps the name locked; a real agent locked out can be helped by an admin
  (`support-user add` a new account) - the price of a per-name limit.
* A session is a random 32-byte token given to the browser; only its SHA-256 is stored. It
  ends `SESSION_LIFETIME` after login, after `IDLE_TIMEOUT` without a request, at logout, or
  when the account is disabled.  The CSRF token of a session is derived from its secret token
  (HMAC), so it needs no storage and cannot be computed by anyone who lacks the cookie.

Errors (all `bot.errors.BotError`, so the CLI shows one line): `AccountError` for bad names or
passwords at creation, `LoginFailed` and `LoginLocked` for logins.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.errors import BotError
from bot.store import Store

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1  # ~32 MiB and ~0.1 s per hash
SALT_BYTES, KEY_BYTES = 16, 32
MIN_PASSWORD_LENGTH = 10

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
SESSION_LIFETIME = timedelta(hours=8)
IDLE_TIMEOUT = timedelta(minutes=30)

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class AccountError(BotError):
    """A support account cannot be created or changed as asked."""


class LoginFailed(BotError):
    """Wrong name or password (deliberately not saying which)."""


class LoginLocked(BotError):
    """Too many failed logins for this name; try again later."""


# ------------------------------------------------------------------ passwords


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> str:
    """``scrypt$n=..,r=..,p=..$salt$hash`` for `password` with a fresh random salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                         maxmem=256 * n * r + 1024 * 1024, dklen=KEY_BYTES)
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
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                         maxmem=256 * n * r + 1024 * 1024, dklen=len(expected))
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


def login(store: Store, name: str, password: str, *, client: str | None, now: datetime) -> str:
    """A new session token for `name`, or LoginFailed / LoginLocked. Every attempt is recorded."""
    name = name.strip()[:64]
    with store.transaction():
        locked = store.failed_support_logins_since(name, now - FAILURE_WINDOW) >= MAX_FAILURES
        if locked:
            store.record_support_login(name, client, False, now)
    if locked:
        raise LoginLocked(f"too many failed logins for {name!r}")
    user = store.support_user(name)
    ok = verify_password(password, user["password_hash"] if user else _DUMMY_HASH)
    ok = ok and user is not None and not user["disabled"]
    store.record_support_login(name, client, ok, now)
    if not ok:
        raise LoginFailed("wrong name or password")
    token = secrets.token_urlsafe(32)
    store.create_support_session(token_hash(token), user["id"], now, now + SESSION_LIFETIME)
    return token


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
