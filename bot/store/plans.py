"""SQL for a plan's life after agreement: plan and instalment states, payments, and the
reminder outbox. Every state change writes an audit event in the same transaction."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bot.store.codec import from_timestamp, to_decimal, to_money_text, to_timestamp

PLAN_END_STATES = ("completed", "broken", "superseded")


class PlanLifeQueries:
    """Mixed into `bot.store.Store` (uses its `db`, `clock`, `transaction` and `audit`)."""

    # ------------------------------------------------------------ plans and instalments

    def plan(self, plan_id: int) -> dict | None:
        return next(iter(self.list_plans(plan_id=plan_id)), None)

    def active_plan_for_loan(self, loan_id: str) -> dict | None:
        row = self._one("SELECT id FROM plans WHERE loan_id = ? AND status = 'active'"
                        " ORDER BY id DESC LIMIT 1", (loan_id,))
        return self.plan(row["id"]) if row else None

    def active_plan_for_borrower(self, borrower_id: int) -> dict | None:
        row = self._one("SELECT id FROM plans WHERE borrower_id = ? AND status = 'active'"
                        " ORDER BY id DESC LIMIT 1", (borrower_id,))
        return self.plan(row["id"]) if row else None

    def plans_accepted_since(self, loan_id: str, since: datetime) -> int:
        return self.db.execute("SELECT count(*) FROM plans WHERE loan_id = ? AND accepted_at >= ?",
                               (loan_id, to_timestamp(since))).fetchone()[0]

    def set_instalment_payment(self, plan_id: int, number: int, *, paid: Decimal, status: str,
                               at: datetime) -> None:
        old = self._one("SELECT status FROM installments WHERE plan_id = ? AND number = ?", (plan_id, number))
        self.db.execute(
            "UPDATE installments SET paid = ?, status = ?, paid_at = ? WHERE plan_id = ? AND number = ?",
            (to_money_text(paid), status, to_timestamp(at), plan_id, number),
        )
        if old and old["status"] != status:
            self._plan_audit("instalment_" + status, plan_id, at, number=number, was=old["status"])

    def mark_instalment_missed(self, plan_id: int, number: int, at: datetime) -> bool:
        cursor = self.db.execute(
            "UPDATE installments SET status = 'missed' WHERE plan_id = ? AND number = ?"
            " AND status IN ('due', 'partly_paid')", (plan_id, number))
        if cursor.rowcount:
            self._plan_audit("instalment_missed", plan_id, at, number=number)
        return bool(cursor.rowcount)

    def report_payment(self, plan_id: int, amount: Decimal, paid_on: date, at: datetime) -> None:
        """The borrower says they paid: noted on the oldest unpaid instalment until an import
        confirms it."""
        row = self._one("SELECT number, reported FROM installments WHERE plan_id = ?"
                        " AND status IN ('due', 'partly_paid', 'missed') ORDER BY number LIMIT 1", (plan_id,))
        if row is None:
            return
        reported = (to_decimal(row["reported"]) or Decimal(0)) + amount
        self.db.execute("UPDATE installments SET reported = ?, reported_at = ? WHERE plan_id = ? AND number = ?",
                        (to_money_text(reported), to_timestamp(at), plan_id, row["number"]))
        self._plan_audit("payment_reported", plan_id, at, number=row["number"], amount=amount,
                         paid_on=paid_on)

    def end_plan(self, plan_id: int, status: str, at: datetime, *, superseded_by: int | None = None) -> bool:
        """active -> completed | broken | superseded; pending reminders are cancelled."""
        if status not in PLAN_END_STATES:
            raise ValueError(f"not an end state: {status}")
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE plans SET status = ?, ended_at = ?, superseded_by = ? WHERE id = ? AND status = 'active'",
                (status, to_timestamp(at), superseded_by, plan_id))
            if not cursor.rowcount:
                return False
            self.db.execute("UPDATE reminders SET status = 'cancelled', last_error = ? WHERE plan_id = ?"
                            " AND status = 'pending'", (f"plan {status}", plan_id))
            self._plan_audit("plan_" + status, plan_id, at, superseded_by=superseded_by)
        return True

    def _plan_audit(self, event: str, plan_id: int, at: datetime, **details: Any) -> None:
        plan = self._one("SELECT loan_id, borrower_id FROM plans WHERE id = ?", (plan_id,))
        self.audit(event, at=at, borrower_id=plan["borrower_id"], loan_id=plan["loan_id"],
                   plan_id=plan_id, **details)

    # ------------------------------------------------------------ payments

    def record_payment(self, *, loan_id: str, plan_id: int | None, amount: Decimal, unapplied: Decimal,
                       paid_at: datetime, reference: str, source: str) -> int | None:
        """Insert a payment; None if its reference was already recorded (imports are idempotent)."""
        cursor = self.db.execute(
            "INSERT INTO payments (loan_id, plan_id, amount, unapplied, paid_at, reference, source, imported_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (reference) DO NOTHING",
            (loan_id, plan_id, to_money_text(amount), to_money_text(unapplied), to_timestamp(paid_at),
             reference, source, to_timestamp(self.clock())))
        return cursor.lastrowid if cursor.rowcount else None

    def payment_references(self, references: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(references), 500):
            chunk = references[start:start + 500]
            rows = self.db.execute(
                f"SELECT reference FROM payments WHERE reference IN ({','.join('?' * len(chunk))})", chunk)
            found.update(row[0] for row in rows)
        return found

    # ------------------------------------------------------------ the reminder outbox

    def add_reminder(self, *, plan_id: int, number: int, borrower_id: int, kind: str, send_at: datetime) -> bool:
        cursor = self.db.execute(
            "INSERT INTO reminders (plan_id, installment_number, borrower_id, kind, send_at, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (plan_id, installment_number, kind) DO NOTHING",
            (plan_id, number, borrower_id, kind, to_timestamp(send_at), to_timestamp(self.clock())))
        return bool(cursor.rowcount)

    def add_reminders(self, *, plan_id: int, borrower_id: int, due: list[tuple[int, str, datetime]]) -> int:
        """A plan's reminders, (instalment number, kind, send time) each, in one statement;
        those already there are kept. Returns how many were added."""
        created = to_timestamp(self.clock())
        before = self.db.conn.total_changes
        with self.transaction():
            self.db.conn.executemany(
                "INSERT INTO reminders (plan_id, installment_number, borrower_id, kind, send_at, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (plan_id, installment_number, kind) DO NOTHING",
                [(plan_id, number, borrower_id, kind, to_timestamp(send_at), created) for number, kind, send_at in due])
        return self.db.conn.total_changes - before

    def due_reminders(self, now: datetime, limit: int = 100) -> list[dict]:
        """Pending reminders whose time has come, oldest first (served by the reminders_due index)."""
        at = to_timestamp(now)
        rows = self._rows(
            "SELECT * FROM reminders WHERE status = 'pending' AND send_at <= ?"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?) ORDER BY send_at LIMIT ?",
            (at, at, limit))
        return [self._reminder(row) for row in rows]

    def reminders_for_plan(self, plan_id: int) -> list[dict]:
        rows = self._rows("SELECT * FROM reminders WHERE plan_id = ? ORDER BY send_at, id", (plan_id,))
        return [self._reminder(row) for row in rows]

    def reminders_by_ids(self, reminder_ids: list[int]) -> list[dict]:
        rows = self._rows("SELECT * FROM reminders WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id",
                          (json.dumps(reminder_ids),))
        return [self._reminder(row) for row in rows]

    @staticmethod
    def _reminder(row: dict) -> dict:
        for column in ("send_at", "next_attempt_at", "sent_at", "created_at"):
            row[column] = from_timestamp(row[column])
        return row

    def claim_reminder(self, reminder_id: int, at: datetime) -> bool:
        """pending -> sending, once: a second dispatcher cannot claim the same reminder. `at`
        is the pass's moment (an `--as-of` catch-up pass lives in its own time), against which
        a later pass decides that a claim left by a dead process is stale."""
        cursor = self.db.execute(
            "UPDATE reminders SET status = 'sending', attempts = attempts + 1, next_attempt_at = ?"
            " WHERE id = ? AND status = 'pending'", (to_timestamp(at), reminder_id))
        return bool(cursor.rowcount)

    def finish_reminder(self, reminder_id: int, status: str, *, error: str | None = None,
                        retry_at: datetime | None = None, send_at: datetime | None = None) -> None:
        """Record the outcome: sent / failed / blocked / cancelled, or back to pending (retry_at)."""
        now = to_timestamp(self.clock())
        self.db.execute(
            "UPDATE reminders SET status = ?, last_error = ?, next_attempt_at = ?,"
            " sent_at = CASE WHEN ? = 'sent' THEN ? ELSE sent_at END, send_at = COALESCE(?, send_at)"
            " WHERE id = ?",
            (status, error, to_timestamp(retry_at) if retry_at else None, status, now,
             to_timestamp(send_at) if send_at else None, reminder_id))

    def release_stale_reminders(self, older_than: datetime) -> int:
        """Reminders left `sending` by a process that died go back to pending: a possible
        repeat of the few in flight is better than a reminder silently lost."""
        cursor = self.db.execute(
            "UPDATE reminders SET status = 'pending', last_error = 'interrupted while sending'"
            " WHERE status = 'sending' AND next_attempt_at < ?", (to_timestamp(older_than),))
        return cursor.rowcount

    def mark_unreachable(self, borrower_id: int, at: datetime, reason: str) -> None:
        self.db.execute("UPDATE borrowers SET unreachable_at = COALESCE(unreachable_at, ?) WHERE id = ?",
                        (to_timestamp(at), borrower_id))
        self.audit("borrower_unreachable", at=at, borrower_id=borrower_id, reason=reason)

    def instalments_unpaid_before(self, day: date) -> list[dict]:
        """Unpaid instalments of active plans due before `day` (candidates for `missed`).

        Two steps on purpose: the (status, due_date) index finds the few candidates, then
        their plans are looked up by id; a join lets SQLite's planner scan every plan."""
        candidates = sorted(self._rows(  # sorted here: ORDER BY in SQL tempts a full index scan
            "SELECT plan_id, number, due_date FROM installments WHERE status IN ('due', 'partly_paid')"
            " AND due_date < ?", (day.isoformat(),)), key=lambda row: (row["plan_id"], row["number"]))
        plan_ids = sorted({row["plan_id"] for row in candidates})
        owners: dict[int, dict] = {}
        for start in range(0, len(plan_ids), 500):
            chunk = plan_ids[start:start + 500]
            owners.update((row["id"], row) for row in self._rows(
                "SELECT p.id, p.borrower_id, b.timezone FROM plans p JOIN borrowers b ON b.id = p.borrower_id"
                f" WHERE p.id IN ({','.join('?' * len(chunk))}) AND p.status = 'active'", chunk))
        return [{**row, "due_date": date.fromisoformat(row["due_date"]),
                 "borrower_id": owners[row["plan_id"]]["borrower_id"], "timezone": owners[row["plan_id"]]["timezone"]}
                for row in candidates if row["plan_id"] in owners]

    def missed_count(self, plan_id: int) -> int:
        return self.db.execute("SELECT count(*) FROM installments WHERE plan_id = ? AND status = 'missed'",
                               (plan_id,)).fetchone()[0]

    def set_borrower_timezone(self, borrower_id: int, zone: str) -> None:
        self.db.execute("UPDATE borrowers SET timezone = ? WHERE id = ?", (zone, borrower_id))

    def flag_needs_person(self, chat_id: int, at: datetime, reason: str) -> None:
        self.db.execute("UPDATE conversations SET needs_person = 1 WHERE chat_id = ?", (chat_id,))
        self.audit("needs_person", at=at, chat_id=chat_id, reason=reason)

