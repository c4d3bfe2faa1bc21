"""SQL for hand-offs to a person: tickets and the support-group messages that belong to them."""
from __future__ import annotations

from datetime import datetime

from bot.store.codec import from_timestamp, to_timestamp


class TicketQueries:
    """Mixed into `bot.store.Store` (uses its `db`, `clock`, `transaction` and `audit`)."""

    def open_ticket(self, *, chat_id: int, borrower_id: int | None, loan_id: str | None, reason: str,
                    resume_step: str, at: datetime) -> int:
        """The chat's open ticket, or a new one (one open ticket per chat)."""
        existing = self.open_ticket_for_chat(chat_id)
        if existing:
            return existing["id"]
        ticket_id = self.db.execute(
            "INSERT INTO tickets (chat_id, borrower_id, loan_id, reason, resume_step, opened_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (chat_id, borrower_id, loan_id, reason, resume_step, to_timestamp(at))).lastrowid
        self.audit("ticket_opened", at=at, chat_id=chat_id, borrower_id=borrower_id, loan_id=loan_id,
                   ticket_id=ticket_id, reason=reason)
        return ticket_id

    def open_ticket_for_chat(self, chat_id: int) -> dict | None:
        return self._ticket("WHERE chat_id = ? AND closed_at IS NULL", (chat_id,))

    def ticket(self, ticket_id: int) -> dict | None:
        return self._ticket("WHERE id = ?", (ticket_id,))

    def ticket_for_support_message(self, message_id: int) -> dict | None:
        """The ticket a support-group message belongs to: its card, or a message relayed under it."""
        return self._ticket("WHERE card_message_id = ? OR id = (SELECT ticket_id FROM relayed_messages"
                            " WHERE support_message_id = ?)", (message_id, message_id))

    def _ticket(self, where: str, params: tuple) -> dict | None:
        row = self._one(f"SELECT * FROM tickets {where} ORDER BY id DESC LIMIT 1", params)
        if row:
            row["opened_at"], row["closed_at"] = from_timestamp(row["opened_at"]), from_timestamp(row["closed_at"])
        return row

    def set_ticket_card(self, ticket_id: int, message_id: int) -> None:
        self.db.execute("UPDATE tickets SET card_message_id = ? WHERE id = ?", (message_id, ticket_id))

    def record_relayed(self, ticket_id: int, support_message_id: int, at: datetime) -> None:
        self.db.execute("INSERT OR IGNORE INTO relayed_messages (support_message_id, ticket_id, at) VALUES (?, ?, ?)",
                        (support_message_id, ticket_id, to_timestamp(at)))

    def close_ticket(self, ticket_id: int, *, by: int, at: datetime) -> bool:
        cursor = self.db.execute("UPDATE tickets SET closed_at = ?, closed_by = ? WHERE id = ? AND closed_at IS NULL",
                                 (to_timestamp(at), by, ticket_id))
        if cursor.rowcount:
            ticket = self.ticket(ticket_id)
            self.audit("ticket_closed", at=at, chat_id=ticket["chat_id"], borrower_id=ticket["borrower_id"],
                       loan_id=ticket["loan_id"], ticket_id=ticket_id, closed_by=by)
        return bool(cursor.rowcount)

    def recent_messages(self, chat_id: int, limit: int = 6) -> list[dict]:
        rows = list(self._rows("SELECT at, direction, step, text FROM messages WHERE chat_id = ?"
                                  " ORDER BY id DESC LIMIT ?", (chat_id, limit)))
        return list(reversed(rows))
