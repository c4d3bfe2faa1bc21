"""SQL for conversations and their messages: the saved state of each chat's dialogue
(optimistic concurrency: a `version` column), the messages logged in and out, and the replies
recorded before they are sent (so a crash never loses or doubles one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.errors import ConflictError, StoreError
from bot.store.base import Row, StoreBase
from bot.store.codec import TABLES, encode, to_json, to_timestamp

_CONVERSATION = ("step", "data", "version", "locale", "borrower_id", "loan_id", "telegram_user_id", "needs_person")


class ConversationQueries(StoreBase):
    # -------------------------------------------------------------- the dialogue's state

    def load_conversation(self, chat_id: int) -> Row | None:
        """The saved state: step, data (a dict), version, locale, borrower_id, loan_id,
        telegram_user_id and needs_person (a bool), or None for a chat never saved."""
        return self._one(
            f"SELECT {', '.join(_CONVERSATION)} FROM conversations WHERE chat_id = ?",
            (chat_id,),
            TABLES["conversations"],
        )

    def save_conversation(
        self,
        chat_id: int,
        *,
        step: str,
        data: dict,
        version: int,
        locale: str | None,
        borrower_id: int | None,
        loan_id: str | None,
        telegram_user_id: int | None,
        needs_person: bool = False,
    ) -> int:
        """Save if nobody else did since `version` was loaded (0 = new); return the new version.

        `data` is stored as JSON: Decimal and dates come back as strings, which the
        dialogue's pydantic models read back into Decimal and date.
        """
        values = encode(
            "conversations",
            {
                "step": step,
                "data": data,
                "locale": locale,
                "borrower_id": borrower_id,
                "loan_id": loan_id,
                "telegram_user_id": telegram_user_id,
                "needs_person": needs_person,
                "updated_at": self.clock(),
                "version": version + 1,
                "chat_id": chat_id,
            },
        )
        if version == 0:
            cursor = self.db.execute(
                f"INSERT INTO conversations ({', '.join(values)})"
                f" VALUES ({', '.join(':' + c for c in values)}) ON CONFLICT (chat_id) DO NOTHING",
                values,
            )
        else:
            sets = ", ".join(f"{c} = :{c}" for c in values if c != "chat_id")
            cursor = self.db.execute(
                f"UPDATE conversations SET {sets} WHERE chat_id = :chat_id AND version = :expected",
                {**values, "expected": version},
            )
        if cursor.rowcount != 1:
            raise ConflictError(f"conversation {chat_id} changed since version {version} was loaded")
        return version + 1

    def flag_needs_person(self, chat_id: int, at: datetime, reason: str) -> None:
        with self.transaction():
            self.db.execute("UPDATE conversations SET needs_person = 1 WHERE chat_id = ?", (chat_id,))
            self.audit("needs_person", at=at, chat_id=chat_id, reason=reason)

    # -------------------------------------------------------------- messages

    def log_message(
        self,
        *,
        direction: str,
        chat_id: int,
        text: str,
        at: datetime,
        step: str | None = None,
        borrower_id: int | None = None,
        buttons: Any = None,
        update_id: int | None = None,
    ) -> bool:
        """Record a message. For an incoming one, False means this Telegram update was
        already logged: a redelivery, which the caller must not process again."""
        if direction not in ("in", "out"):
            raise StoreError(f"direction must be 'in' or 'out', not {direction!r}")
        cursor = self.db.execute(
            "INSERT INTO messages (at, chat_id, borrower_id, step, direction, text, buttons, update_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (update_id) WHERE direction = 'in' DO NOTHING",
            (
                to_timestamp(at),
                chat_id,
                borrower_id,
                step,
                direction,
                text,
                None if buttons is None else to_json(buttons),
                update_id,
            ),
        )
        return cursor.rowcount == 1

    def log_reply(
        self,
        *,
        chat_id: int,
        text: str,
        at: datetime,
        step: str | None,
        borrower_id: int | None,
        buttons: Any,
        in_reply_to: int | None,
        meta: dict[str, Any],
    ) -> int:
        """Record an outgoing message before it is sent; its id is marked sent afterwards."""
        row_id = self.db.execute(
            "INSERT INTO messages (at, chat_id, borrower_id, step, direction, text, buttons, in_reply_to, meta)"
            " VALUES (?, ?, ?, ?, 'out', ?, ?, ?, ?)",
            (
                to_timestamp(at),
                chat_id,
                borrower_id,
                step,
                text,
                None if buttons is None else to_json(buttons),
                in_reply_to,
                to_json(meta),
            ),
        ).lastrowid
        assert row_id is not None  # an INSERT that did not fail
        return row_id

    def forget_chat_texts(self, chat_id: int) -> int:
        """Keep no text of a chat's messages (the borrower declined the privacy notice): the
        rows stay, empty, so a redelivered update is still known; how many were emptied."""
        return self.db.execute("UPDATE messages SET text = '', buttons = NULL WHERE chat_id = ?", (chat_id,)).rowcount

    def mark_sent(self, message_id: int, at: datetime) -> None:
        self.db.execute("UPDATE messages SET sent_at = ? WHERE id = ?", (to_timestamp(at), message_id))

    def unsent_replies(self, update_id: int) -> list[Row]:
        """Replies to `update_id` recorded but not known to be delivered, in order (buttons []
        and meta {} when there are none)."""
        rows = self._rows(
            "SELECT id, text, buttons, meta FROM messages WHERE in_reply_to = ?"
            " AND direction = 'out' AND sent_at IS NULL ORDER BY id",
            (update_id,),
            TABLES["messages"],
        )
        return [{**row, "buttons": row["buttons"] or [], "meta": row["meta"] or {}} for row in rows]

    def recent_messages(self, chat_id: int, limit: int = 6) -> list[Row]:
        """The chat's last `limit` messages, oldest first: at, direction, step, text."""
        return self._all(
            "SELECT at, direction, step, text FROM (SELECT * FROM messages WHERE chat_id = ? ORDER BY id DESC LIMIT ?)"
            " ORDER BY id",
            (chat_id, limit),
            TABLES["messages"],
        )
