"""SQL for hand-offs to a person: tickets, the support-group messages that belong to them, the
queue of conversations waiting for a person, and the support outbox (what agents do to a
hand-off, from the web console or the support group, until the bot process has done it)."""

from __future__ import annotations

from datetime import datetime

from bot.errors import StoreError
from bot.store.base import Row, StoreBase
from bot.store.codec import FLAG, TABLES, TIME, columns, to_timestamp
from bot.store.statuses import OutboxKind, OutboxStatus, sql_list

#: An action not finished yet: a close among them means the hand-off is closing.
_UNFINISHED = sql_list((OutboxStatus.PENDING, OutboxStatus.SENDING))
#: The conversations waiting for a person: an open ticket (t), and the dialogue (c) handed over.
_WAITING_FROM = "tickets t JOIN conversations c ON c.chat_id = t.chat_id"
_WAITING = "t.closed_at IS NULL AND c.needs_person = 1"


def _closing(ticket_id: str) -> str:
    """SQL: whether a close of the ticket `ticket_id` (an SQL expression) is on its way, queued
    or being done: then nothing more can be done to the hand-off."""
    return (
        f"EXISTS (SELECT 1 FROM support_outbox o WHERE o.ticket_id = {ticket_id}"
        f" AND o.kind = '{OutboxKind.CLOSE}' AND o.status IN {_UNFINISHED})"
    )


class HandoffClosed(StoreError):
    """The hand-off is closed (or is being closed): nothing more can be done to it."""


class TicketQueries(StoreBase):
    def open_ticket(
        self, *, chat_id: int, borrower_id: int | None, loan_id: str | None, reason: str, resume_step: str, at: datetime
    ) -> int:
        """The chat's open ticket, or a new one (one open ticket per chat)."""
        with self.transaction():
            existing = self.open_ticket_for_chat(chat_id)
            if existing:
                return int(existing["id"])
            ticket_id = self.db.execute(
                "INSERT INTO tickets (chat_id, borrower_id, loan_id, reason, resume_step, opened_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (chat_id, borrower_id, loan_id, reason, resume_step, to_timestamp(at)),
            ).lastrowid
            assert ticket_id is not None  # a row was inserted
            self.audit(
                "ticket_opened",
                at=at,
                chat_id=chat_id,
                borrower_id=borrower_id,
                loan_id=loan_id,
                ticket_id=ticket_id,
                reason=reason,
            )
        return ticket_id

    def open_ticket_for_chat(self, chat_id: int) -> Row | None:
        return self._ticket("WHERE chat_id = ? AND closed_at IS NULL", (chat_id,))

    def ticket(self, ticket_id: int) -> Row | None:
        return self._ticket("WHERE id = ?", (ticket_id,))

    def ticket_for_support_message(self, message_id: int) -> Row | None:
        """The ticket a support-group message belongs to: its card, or a message relayed under it."""
        return self._ticket(
            "WHERE card_message_id = ? OR id = (SELECT ticket_id FROM relayed_messages WHERE support_message_id = ?)",
            (message_id, message_id),
        )

    def _ticket(self, where: str, params: tuple) -> Row | None:
        return self._one(f"SELECT * FROM tickets {where} ORDER BY id DESC LIMIT 1", params, TABLES["tickets"])

    def set_ticket_card(self, ticket_id: int, message_id: int) -> None:
        self.db.execute("UPDATE tickets SET card_message_id = ? WHERE id = ?", (message_id, ticket_id))

    def record_relayed(self, ticket_id: int, support_message_id: int, at: datetime) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO relayed_messages (support_message_id, ticket_id, at) VALUES (?, ?, ?)",
            (support_message_id, ticket_id, to_timestamp(at)),
        )

    def close_ticket(self, ticket_id: int, *, by: int | None, at: datetime, **details: str) -> bool:
        """Close an open ticket (`by`: the Telegram agent's user id; None from the console, whose
        agent is in `details`)."""
        with self.transaction():
            closed = self.db.execute(
                "UPDATE tickets SET closed_at = ?, closed_by = ? WHERE id = ? AND closed_at IS NULL",
                (to_timestamp(at), by, ticket_id),
            ).rowcount
            ticket = self.ticket(ticket_id)
            if closed and ticket is not None:
                self.audit(
                    "ticket_closed",
                    at=at,
                    chat_id=ticket["chat_id"],
                    borrower_id=ticket["borrower_id"],
                    loan_id=ticket["loan_id"],
                    ticket_id=ticket_id,
                    closed_by=by,
                    **details,
                )
        return bool(closed)

    # -------------------------------------------------------------- the queue

    def waiting_for_person(self) -> list[Row]:
        """Conversations waiting for a person, the longest waiting first, as the queue shows
        them: the open ticket, the borrower's name, when they last wrote, when an agent last
        replied, and whether a close is already on its way."""
        return self._all(
            "SELECT t.chat_id, t.reason, t.opened_at, t.loan_id, b.name,"
            " (SELECT max(m.at) FROM messages m WHERE m.chat_id = t.chat_id AND m.direction = 'in'"
            "   AND m.at >= t.opened_at) AS last_in_at,"
            " (SELECT max(o.created_at) FROM support_outbox o"
            f"   WHERE o.ticket_id = t.id AND o.kind = '{OutboxKind.REPLY}') AS last_reply_at,"
            f" {_closing('t.id')} AS closing"
            f" FROM {_WAITING_FROM} LEFT JOIN borrowers b ON b.id = t.borrower_id"
            f" WHERE {_WAITING} ORDER BY t.opened_at, t.id",
            codecs=columns("tickets", last_in_at=TIME, last_reply_at=TIME, closing=FLAG),
        )

    def waiting_count(self) -> int:
        """How many conversations are waiting for a person (the console's header)."""
        return int(self._value(f"SELECT count(*) FROM {_WAITING_FROM} WHERE {_WAITING}"))

    def ticket_closing(self, ticket_id: int) -> bool:
        """Whether a close of the ticket is on its way (queued or being done)."""
        return bool(self._value(f"SELECT {_closing('?')}", (ticket_id,)))

    # -------------------------------------------------------------- the support outbox

    def queue_support_action(
        self,
        ticket_id: int,
        *,
        kind: OutboxKind,
        text: str | None,
        source: str,
        agent: str,
        agent_id: int | None,
        at: datetime,
        claimed: bool = False,
    ) -> Row:
        """Add a reply or a close to the outbox (`agent`: a name to show; `agent_id`: the console
        account's id, or the Telegram user's; `claimed`: the caller does it at once). Raises
        HandoffClosed when the ticket is closed or a close is already on its way."""
        with self.transaction():
            ticket = self.ticket(ticket_id)
            if ticket is None or ticket["closed_at"] is not None or self.ticket_closing(ticket_id):
                raise HandoffClosed(f"ticket {ticket_id} is closed or closing")
            action_id = self.db.execute(
                "INSERT INTO support_outbox (ticket_id, chat_id, kind, text, source, agent, agent_id, created_at,"
                " status, next_try_at, claimed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    ticket_id,
                    ticket["chat_id"],
                    OutboxKind(kind),
                    text,
                    source,
                    agent,
                    agent_id,
                    to_timestamp(at),
                    OutboxStatus.SENDING if claimed else OutboxStatus.PENDING,
                    to_timestamp(at),
                    to_timestamp(at) if claimed else None,
                ),
            ).lastrowid
            action = None if action_id is None else self.support_action(action_id)
            assert action is not None  # it was just written
            return action

    def support_action(self, action_id: int) -> Row | None:
        return self._one("SELECT * FROM support_outbox WHERE id = ?", (action_id,), TABLES["support_outbox"])

    def due_support_actions(self, now: datetime, limit: int) -> list[Row]:
        """Pending actions due by `now`, in order; none of a chat with an earlier one unfinished
        (a close never overtakes the reply before it)."""
        return self._all(
            "SELECT * FROM support_outbox o WHERE o.status = ? AND o.next_try_at <= ?"
            " AND NOT EXISTS (SELECT 1 FROM support_outbox e WHERE e.chat_id = o.chat_id AND e.id < o.id"
            f"   AND e.status IN {_UNFINISHED}) ORDER BY o.id LIMIT ?",
            (OutboxStatus.PENDING, to_timestamp(now), limit),
            TABLES["support_outbox"],
        )

    def claim_support_action(self, action_id: int, now: datetime) -> bool:
        return bool(
            self.db.execute(
                "UPDATE support_outbox SET status = ?, claimed_at = ? WHERE id = ? AND status = ?",
                (OutboxStatus.SENDING, to_timestamp(now), action_id, OutboxStatus.PENDING),
            ).rowcount
        )

    def support_action_piece_sent(self, action_id: int) -> None:
        self.db.execute("UPDATE support_outbox SET pieces_sent = pieces_sent + 1 WHERE id = ?", (action_id,))

    def finish_support_action(
        self,
        action_id: int,
        status: OutboxStatus,
        *,
        at: datetime,
        error: str | None = None,
        retry_at: datetime | None = None,
    ) -> None:
        """`done`, `failed` (with the error), or back to `pending` until `retry_at` (one more attempt)."""
        status = OutboxStatus(status)
        if status == OutboxStatus.PENDING:
            self.db.execute(
                "UPDATE support_outbox SET status = ?, attempts = attempts + 1, error = ?,"
                " next_try_at = ?, claimed_at = NULL WHERE id = ?",
                (status, error, to_timestamp(retry_at or at), action_id),
            )
        else:
            self.db.execute(
                "UPDATE support_outbox SET status = ?, error = ?, done_at = ? WHERE id = ?",
                (status, error, to_timestamp(at), action_id),
            )

    def release_stale_support_actions(self, claimed_before: datetime) -> int:
        """Actions a process died while doing go back to pending."""
        return self.db.execute(
            "UPDATE support_outbox SET status = ?, claimed_at = NULL WHERE status = ? AND claimed_at < ?",
            (OutboxStatus.PENDING, OutboxStatus.SENDING, to_timestamp(claimed_before)),
        ).rowcount

    def support_actions(self, chat_id: int, limit: int = 50) -> list[Row]:
        """The latest actions on this chat's hand-offs, oldest first."""
        return self._all(
            "SELECT * FROM (SELECT * FROM support_outbox WHERE chat_id = ? ORDER BY id DESC LIMIT ?) ORDER BY id",
            (chat_id, limit),
            TABLES["support_outbox"],
        )
