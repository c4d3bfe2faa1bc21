"""From an update as Telegram sent it (raw JSON) to an update handled and committed, or kept as
a dead letter: what polling and webhook mode share, so both give the same guarantee.

    raw JSON ─► not an update the bot can read ───────────────────► dead letter ─► confirmed
            └─► Application.process_update ─► turn committed ─────────────────────► confirmed
                                            ├─► a handler failed (not Telegram) ─► dead letter ─► confirmed
                                            └─► database busy through every retry ─► held

"Confirmed" lets polling move its offset past the update, or the webhook drop it from its
inbox. A held update is not confirmed: polling fetches it again, the webhook keeps it in the
inbox, and it is handled once the database lets the turn commit. An update is never confirmed
while its turn is not committed, and one the bot cannot handle never stops it: it is logged,
kept with its raw JSON and the error (`dead_letters`), and the bot goes on serving.

A handler's failure reaches PTB's error handler, not the caller of `process_update`; the
error handler reports it here (`note_failure`), per Application, and `handle_raw` collects it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

from telegram import Bot, Update
from telegram.ext import Application

from bot.errors import ConflictError, TurnNotCommitted
from bot.store.codec import utc_now
from bot.store.inbox import Source, update_id_of

log = logging.getLogger(__name__)
T = TypeVar("T")

#: Seconds to wait before each new attempt at a turn the database refused. Each attempt itself
#: waits up to the store's busy_timeout (5 s) for the write lock, so a turn is given about 30 s.
TURN_RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0)
_FAILURES = "intake.failures"  # bot_data key: update_id -> (Outcome, error) of a handler's failure


class Outcome(Enum):
    HANDLED = "handled"
    DEAD_LETTER = "dead letter"
    HELD = "held"  # not committed: must not be confirmed to Telegram

    @property
    def confirmed(self) -> bool:
        return self is not Outcome.HELD


class Malformed(Exception):
    """Telegram's JSON is not an update the bot can handle; the message says why."""


def is_transient(error: BaseException) -> bool:
    """The database refused for now (worth retrying): another connection holds its write lock,
    or another process saved the conversation first."""
    if isinstance(error, TurnNotCommitted | ConflictError):
        return True
    code = getattr(error, "sqlite_errorcode", None)
    return (
        isinstance(error, sqlite3.OperationalError)
        and code is not None
        and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    )


async def committed_turn(turn: Callable[[], T], what: str) -> T:
    """`turn()` (one transaction), tried again with back-off while the database is busy or
    another process saved the conversation first; TurnNotCommitted when every try failed."""
    delays = iter(TURN_RETRY_DELAYS)
    while True:
        try:
            return turn()
        except (sqlite3.OperationalError, ConflictError) as error:
            if not is_transient(error):
                raise
            delay = next(delays, None)
            if delay is None:
                raise TurnNotCommitted(f"{what}: the database stayed busy ({error})") from error
            log.warning("%s: the database is busy (%s); trying again in %.1f s", what, error, delay)
            await asyncio.sleep(delay)


def parse_update(raw: Any, bot: Bot) -> Update:
    """The Update in Telegram's JSON, or Malformed when the bot could not handle it safely."""
    if not isinstance(raw, dict):
        raise Malformed("not a JSON object")
    if update_id_of(raw) is None:
        raise Malformed("update_id is missing or not an integer")
    if not any(isinstance(value, dict) for key, value in raw.items() if key != "update_id"):
        raise Malformed("nothing in it: every field but update_id is missing, null or not an object")
    try:
        update = Update.de_json(raw, bot)
        problem = _inconsistency(update)
    except Exception as error:  # noqa: BLE001 - PTB parses without validating: a mistake surfaces as any exception
        raise Malformed(f"{type(error).__name__}: {error}") from None
    if problem:
        raise Malformed(problem)
    return update


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _inconsistency(update: Update) -> str | None:
    """What PTB accepted but the handlers rely on: integer ids, a chat and a time for each
    message, text where text belongs."""
    message, chat, user, query = (
        update.effective_message,
        update.effective_chat,
        update.effective_user,
        update.callback_query,
    )
    if chat is not None and not _is_int(chat.id):
        return "chat.id is not an integer"
    if user is not None and not _is_int(user.id):
        return "from.id is not an integer"
    if message is not None:
        # PTB's types say what a well-formed update holds; this checks a received one does
        message_chat: object = message.chat
        sent_at: object = message.date
        if message_chat is None:
            return "a message without a chat"
        if not isinstance(sent_at, datetime):
            return "message.date is not a time"
        for field in ("text", "caption"):
            if getattr(message, field) is not None and not isinstance(getattr(message, field), str):
                return f"message.{field} is not a string"
    data: object = query.data if query is not None else None
    if data is not None and not isinstance(data, str):
        return "callback_query.data is not a string"
    return None


def note_failure(application: Application, update: Update, error: BaseException) -> Outcome:
    """Called by the error handler for an update a handler failed on: HELD if the database was
    busy (the update must be handled again), DEAD_LETTER otherwise (it will be kept as one)."""
    outcome = Outcome.HELD if is_transient(error) else Outcome.DEAD_LETTER
    failures = application.bot_data.setdefault(_FAILURES, {})
    failures[update.update_id] = (outcome, f"{type(error).__name__}: {error}")
    return outcome


async def handle_raw(application: Application, raw: Any, source: Source) -> Outcome:
    """Handle one update from its raw JSON (decoded), as the module's docstring draws it."""
    try:
        update = parse_update(raw, application.bot)
    except Malformed as problem:
        return _dead_letter(application, raw, f"malformed update: {problem}", source)
    failures = application.bot_data.setdefault(_FAILURES, {})
    failures.pop(update.update_id, None)
    await application.process_update(update)
    outcome, error = failures.pop(update.update_id, (Outcome.HANDLED, ""))
    if outcome is Outcome.DEAD_LETTER:
        return _dead_letter(application, raw, f"handler failed: {error}", source)
    return outcome


def _dead_letter(application: Application, raw: Any, error: str, source: Source) -> Outcome:
    # ASCII JSON and escaped errors: a lone surrogate in an update (which SQLite cannot store as
    # UTF-8) must not make the dead letter itself fail.
    text = json.dumps(raw) if not isinstance(raw, str) else _storable(raw)
    error = _storable(error)
    update_id = update_id_of(raw)
    store = application.bot_data["conversations"].store
    try:
        store.record_dead_letter(text, error, source, utc_now())
    except sqlite3.Error as failure:
        if is_transient(failure):
            log.warning(
                "update %s could not be kept as a dead letter yet (%s); it stays unconfirmed", update_id, failure
            )
            return Outcome.HELD
        log.error(
            "update %s could not be kept as a dead letter (%s): %s; its JSON: %s", update_id, failure, error, text
        )
        return Outcome.DEAD_LETTER
    log.error("update %s skipped and kept as a dead letter: %s", update_id, error)
    return Outcome.DEAD_LETTER


def _storable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
