"""SQL for updates not yet handled: the webhook's inbox and the dead letters.

The inbox holds each webhook update from the moment Telegram is told it arrived until it was
handled, so a crash in between loses nothing (`bot.tg.webhook`). A dead letter is an update
that cannot be handled (malformed JSON, or a handler failed on it): kept with its raw JSON and
the error for the operator, once per distinct body however often Telegram redelivers it.

Both tables note the Telegram ids found in the raw JSON (`telegram_ids`, a JSON list), so
`forget` can find the rows of a borrower's chats without understanding a malformed update.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from bot.store.base import Row, StoreBase
from bot.store.codec import TABLES, to_timestamp

Source = Literal["polling", "webhook"]


def _parsed(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def update_id_of(value: Any) -> int | None:
    """The update_id of an update's JSON, if it has an integer one."""
    update_id = value.get("update_id") if isinstance(value, dict) else None
    return update_id if isinstance(update_id, int) and not isinstance(update_id, bool) else None


def telegram_ids(value: Any, top: bool = True) -> list[int]:
    """The user and chat ids in an update's JSON: every "id" below the top level and every
    "user_id", where it is an integer or a string of digits (a malformed update may carry one)."""
    found: set[int] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("id", "user_id") and not (top and key == "id"):
                if isinstance(item, int) and not isinstance(item, bool):
                    found.add(item)
                elif isinstance(item, str) and item.lstrip("-").isdigit() and len(item) < 20:
                    found.add(int(item))
            else:
                found.update(telegram_ids(item, top=False))
    elif isinstance(value, list):
        for item in value:
            found.update(telegram_ids(item, top=False))
    return sorted(found)


class InboxQueries(StoreBase):
    def add_to_inbox(self, raw: str, at: datetime) -> bool:
        """Store a webhook update's body; False when an update with its update_id already waits."""
        value = _parsed(raw)
        return (
            self.db.execute(
                "INSERT INTO inbox (update_id, raw, received_at, telegram_ids) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (update_id) DO NOTHING",
                (update_id_of(value), raw, to_timestamp(at), json.dumps(telegram_ids(value))),
            ).rowcount
            == 1
        )

    def next_in_inbox(self) -> Row | None:
        """The waiting update Telegram sent first (by update_id; arrival order among equals)."""
        return self._one("SELECT id, update_id, raw FROM inbox ORDER BY update_id, id LIMIT 1")

    def remove_from_inbox(self, row_id: int) -> None:
        self.db.execute("DELETE FROM inbox WHERE id = ?", (row_id,))

    def record_dead_letter(self, raw: str, error: str, source: Source, at: datetime) -> bool:
        """Keep an update that cannot be handled; False when the same body was kept before."""
        value = _parsed(raw)
        return (
            self.db.execute(
                "INSERT INTO dead_letters (update_id, raw, raw_sha256, error, source, received_at, telegram_ids)"
                " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (raw_sha256) DO NOTHING",
                (
                    update_id_of(value),
                    raw,
                    hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest(),
                    error,
                    source,
                    to_timestamp(at),
                    json.dumps(telegram_ids(value)),
                ),
            ).rowcount
            == 1
        )

    def dead_letters(self) -> list[Row]:
        """Every dead letter, oldest first."""
        return self._all(
            "SELECT id, update_id, raw, error, source, received_at FROM dead_letters ORDER BY id",
            codecs=TABLES["dead_letters"],
        )
