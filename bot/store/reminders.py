"""SQL for the reminder outbox: one row per reminder of an agreed plan, in exactly one
`ReminderStatus`. A dispatcher claims a reminder (pending -> sending) before the Bot API call
and records the outcome after it, so a crash leaves only the reminders in flight in doubt, and
those go back to pending (`release_stale_reminders`)."""

from __future__ import annotations

import json
from datetime import datetime

from bot.store.base import Row, StoreBase
from bot.store.codec import TABLES, to_timestamp
from bot.store.statuses import ReminderStatus

#: What the support console shows of a reminder.
_FOR_SUPPORT = "installment_number, kind, send_at, status, sent_at, attempts"
_INSERT = (
    "INSERT INTO reminders (plan_id, installment_number, borrower_id, kind, send_at, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (plan_id, installment_number, kind) DO NOTHING"
)


class ReminderQueries(StoreBase):
    def add_reminder(self, *, plan_id: int, number: int, borrower_id: int, kind: str, send_at: datetime) -> bool:
        cursor = self.db.execute(
            _INSERT, (plan_id, number, borrower_id, kind, to_timestamp(send_at), to_timestamp(self.clock()))
        )
        return bool(cursor.rowcount)

    def add_reminders(self, *, plan_id: int, borrower_id: int, due: list[tuple[int, str, datetime]]) -> int:
        """A plan's reminders, (instalment number, kind, send time) each, in one statement;
        those already there are kept. Returns how many were added."""
        created = to_timestamp(self.clock())
        before = self.db.conn.total_changes
        with self.transaction():
            self.db.conn.executemany(
                _INSERT,
                [(plan_id, number, borrower_id, kind, to_timestamp(send_at), created) for number, kind, send_at in due],
            )
        return self.db.conn.total_changes - before

    def due_reminders(self, now: datetime, limit: int = 100) -> list[Row]:
        """Pending reminders whose time has come, oldest first (served by the reminders_due index)."""
        at = to_timestamp(now)
        return self._all(
            "SELECT * FROM reminders WHERE status = ? AND send_at <= ?"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY send_at LIMIT ?",
            (ReminderStatus.PENDING, at, at, limit),
            TABLES["reminders"],
        )

    def reminders_for_plan(self, plan_id: int) -> list[Row]:
        """A plan's reminders in the order they go out, decoded like every row. No runtime path
        needs them all; the tests of reminders, pauses and imports read a plan's through this."""
        return self._all(
            "SELECT * FROM reminders WHERE plan_id = ? ORDER BY send_at, id", (plan_id,), TABLES["reminders"]
        )

    def reminders_by_ids(self, reminder_ids: list[int]) -> list[Row]:
        return self._all(
            "SELECT * FROM reminders WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
            (json.dumps(reminder_ids),),
            TABLES["reminders"],
        )

    def claim_reminder(self, reminder_id: int, at: datetime) -> bool:
        """pending -> sending, once: a second dispatcher cannot claim the same reminder. `at`
        is the pass's moment (an `--as-of` catch-up pass lives in its own time), against which
        a later pass decides that a claim left by a dead process is stale."""
        cursor = self.db.execute(
            "UPDATE reminders SET status = ?, attempts = attempts + 1, next_attempt_at = ? WHERE id = ? AND status = ?",
            (ReminderStatus.SENDING, to_timestamp(at), reminder_id, ReminderStatus.PENDING),
        )
        return bool(cursor.rowcount)

    def finish_reminder(
        self,
        reminder_id: int,
        status: ReminderStatus,
        *,
        error: str | None = None,
        retry_at: datetime | None = None,
        send_at: datetime | None = None,
    ) -> None:
        """Record the outcome: sent / failed / blocked / cancelled / skipped, or back to pending
        (`retry_at`: not before then; `send_at`: its moment moved, out of quiet hours)."""
        status = ReminderStatus(status)
        self.db.execute(
            "UPDATE reminders SET status = ?, last_error = ?, next_attempt_at = ?,"
            " sent_at = CASE WHEN ? THEN ? ELSE sent_at END, send_at = COALESCE(?, send_at)"
            " WHERE id = ?",
            (
                status,
                error,
                to_timestamp(retry_at) if retry_at else None,
                status == ReminderStatus.SENT,
                to_timestamp(self.clock()),
                to_timestamp(send_at) if send_at else None,
                reminder_id,
            ),
        )

    def release_stale_reminders(self, older_than: datetime) -> int:
        """Reminders left `sending` by a process that died go back to pending: a possible
        repeat of the few in flight is better than a reminder silently lost."""
        cursor = self.db.execute(
            "UPDATE reminders SET status = ?, last_error = 'interrupted while sending'"
            " WHERE status = ? AND next_attempt_at < ?",
            (ReminderStatus.PENDING, ReminderStatus.SENDING, to_timestamp(older_than)),
        )
        return cursor.rowcount

    def cancel_pending_reminders(self, plan_id: int, reason: str) -> int:
        """The plan's reminders not sent yet will not be: it ended. Part of ending the plan."""
        self._in_transaction("cancelling a plan's reminders")
        return self.db.execute(
            "UPDATE reminders SET status = ?, last_error = ? WHERE plan_id = ? AND status = ?",
            (ReminderStatus.CANCELLED, reason, plan_id, ReminderStatus.PENDING),
        ).rowcount

    def reminders_for_support(self, plan_id: int) -> list[Row]:
        """A plan's reminders as the support console shows them."""
        return self._all(
            f"SELECT {_FOR_SUPPORT} FROM reminders WHERE plan_id = ? ORDER BY send_at, id",
            (plan_id,),
            TABLES["reminders"],
        )
