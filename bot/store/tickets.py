"""SQL for hand-offs to a person: tickets, the support-group messages that belong to them, the
queue of conversations waiting for a person, and the support outbox (what agents do to a
hand-off, from the web console or the support group, until the bot process has done it)."""
from __future__ import annotations

from datetime import datetime

from bot.errors import StoreError
from bot.store.codec import from_timestamp, to_timestamp

#: Outbox states: waiting (or waiting to be tried again), being done, done, given up.
PENDING, SENDING, DONE, FAILED = "pending", "sending", "done", "failed"
_OUTBOX_TIMES = ("created_at", "next_try_at", "claimed_at", "done_at")


class HandoffClosed(StoreError):
    """The hand-off is closed (or is being closed): nothing more can be done to it."""


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

    def close_ticket(self, ticket_id: int, *, by: int | None, at: datetime, **details: str) -> bool:
        """Close an open ticket (`by`: the Telegram agent's user id; None from the console, whose
        agent is in `details`)."""
        cursor = self.db.execute("UPDATE tickets SET closed_at = ?, closed_by = ? WHERE id = ? AND closed_at IS NULL",
                                 (to_timestamp(at), by, ticket_id))
        if cursor.rowcount:
            ticket = self.ticket(ticket_id)
            self.audit("ticket_closed", at=at, chat_id=ticket["chat_id"], borrower_id=ticket["borrower_id"],
                       loan_id=ticket["loan_id"], ticket_id=ticket_id, closed_by=by, **details)
        return bool(cursor.rowcount)

    def recent_messages(self, chat_id: int, limit: int = 6) -> list[dict]:
        rows = list(self._rows("SELECT at, direction, step, text FROM messages WHERE chat_id = ?"
                                  " ORDER BY id DESC LIMIT ?", (chat_id, limit)))
        return list(reversed(rows))

    # -------------------------------------------------------------- the queue

    def waiting_for_person(self) -> list[dict]:
        """Conversations waiting for a person, the longest waiting first: the open ticket, the
        borrower, when they last wrote, and whether a close is already on its way."""
        rows = []
        for row in self._rows(
            "SELECT t.id AS ticket_id, t.chat_id, t.reason, t.resume_step, t.opened_at, t.loan_id,"
            " b.name, b.phone, c.locale,"
            " (SELECT max(m.at) FROM messages m WHERE m.chat_id = t.chat_id AND m.direction = 'in'"
            "   AND m.at >= t.opened_at) AS last_in_at,"
            " (SELECT max(o.created_at) FROM support_outbox o WHERE o.ticket_id = t.id AND o.kind = 'reply')"
            "   AS last_reply_at,"
            " EXISTS (SELECT 1 FROM support_outbox o WHERE o.ticket_id = t.id AND o.kind = 'close'"
            "   AND o.status IN ('pending', 'sending')) AS closing"
            " FROM tickets t JOIN conversations c ON c.chat_id = t.chat_id"
            " LEFT JOIN borrowers b ON b.id = t.borrower_id"
            " WHERE t.closed_at IS NULL AND c.needs_person = 1 ORDER BY t.opened_at, t.id"
        ):
            row["closing"] = bool(row["closing"])
            for column in ("opened_at", "last_in_at", "last_reply_at"):
                row[column] = from_timestamp(row[column])
            rows.append(row)
        return rows

    # -------------------------------------------------------------- the support outbox

    def queue_support_action(self, ticket_id: int, *, kind: str, text: str | None, source: str, agent: str,
                             agent_id: int | None, at: datetime, claimed: bool = False) -> dict:
        """Add a reply or a close to the outbox (`agent`: a name to show; `agent_id`: the console
        account's id, or the Telegram user's; `claimed`: the caller does it at once). Raises
        HandoffClosed when the ticket is closed or a close is already on its way."""
        with self.transaction():
            ticket = self.ticket(ticket_id)
            if ticket is None or ticket["closed_at"] is not None or self._one(
                    "SELECT 1 FROM support_outbox WHERE ticket_id = ? AND kind = 'close' AND status IN (?, ?)",
                    (ticket_id, PENDING, SENDING)):
                raise HandoffClosed(f"ticket {ticket_id} is closed or closing")
            action_id = self.db.execute(
                "INSERT INTO support_outbox (ticket_id, chat_id, kind, text, source, agent, agent_id, created_at,"
                " status, next_try_at, claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (ticket_id, ticket["chat_id"], kind, text, source, agent, agent_id, to_timestamp(at),
                 SENDING if claimed else PENDING, to_timestamp(at), to_timestamp(at) if claimed else None),
            ).lastrowid
            return self.support_action(action_id)

    def support_action(self, action_id: int) -> dict | None:
        return self._outbox_row(self._one("SELECT * FROM support_outbox WHERE id = ?", (action_id,)))

    def due_support_actions(self, now: datetime, limit: int) -> list[dict]:
        """Pending actions due by `now`, in order; none of a chat with an earlier one unfinished
        (a close never overtakes the reply before it)."""
        return [self._outbox_row(row) for row in self._rows(
            "SELECT * FROM support_outbox o WHERE o.status = 'pending' AND o.next_try_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM support_outbox e WHERE e.chat_id = o.chat_id AND e.id < o.id"
            "   AND e.status IN ('pending', 'sending')) ORDER BY o.id LIMIT ?", (to_timestamp(now), limit))]

    def claim_support_action(self, action_id: int, now: datetime) -> bool:
        return bool(self.db.execute(
            "UPDATE support_outbox SET status = 'sending', claimed_at = ? WHERE id = ? AND status = 'pending'",
            (to_timestamp(now), action_id)).rowcount)

    def support_action_piece_sent(self, action_id: int) -> None:
        self.db.execute("UPDATE support_outbox SET pieces_sent = pieces_sent + 1 WHERE id = ?", (action_id,))

    def finish_support_action(self, action_id: int, status: str, *, at: datetime, error: str | None = None,
                              retry_at: datetime | None = None) -> None:
        """`done`, `failed` (with the error), or back to `pending` until `retry_at` (one more attempt)."""
        if status == PENDING:
            self.db.execute("UPDATE support_outbox SET status = 'pending', attempts = attempts + 1, error = ?,"
                            " next_try_at = ?, claimed_at = NULL WHERE id = ?",
                            (error, to_timestamp(retry_at or at), action_id))
        else:
            self.db.execute("UPDATE support_outbox SET status = ?, error = ?, done_at = ? WHERE id = ?",
                            (status, error, to_timestamp(at), action_id))

    def release_stale_support_actions(self, claimed_before: datetime) -> int:
        """Actions a process died while doing go back to pending."""
        return self.db.execute("UPDATE support_outbox SET status = 'pending', claimed_at = NULL"
                               " WHERE status = 'sending' AND claimed_at < ?", (to_timestamp(claimed_before),)).rowcount

    def support_actions(self, chat_id: int, limit: int = 50) -> list[dict]:
        """The latest actions on this chat's hand-offs, oldest first."""
        rows = list(self._rows("SELECT * FROM support_outbox WHERE chat_id = ? ORDER BY id DESC LIMIT ?",
                               (chat_id, limit)))
        return [self._outbox_row(row) for row in reversed(rows)]

    @staticmethod
    def _outbox_row(row: dict | None) -> dict | None:
        if row is not None:
            for column in _OUTBOX_TIMES:
                row[column] = from_timestamp(row[column])
        return row
