"""SQL for agreed plans and their life: recording a plan with its consent and instalments,
instalment states, payments, and ending a plan. Every state change writes an audit event in
the same transaction. (The reminders of a plan: `bot.store.reminders`.)"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from bot.errors import StoreError
from bot.store.base import Row, found, placeholders
from bot.store.codec import FLAG, TABLES, columns, encode, to_money_text, to_timestamp
from bot.store.reminders import ReminderQueries
from bot.store.statuses import (
    PLAN_END_STATES,
    UNPAID,
    UNPAID_NOT_MISSED,
    InstalmentStatus,
    PlanStatus,
    sql_list,
)
from plans.models import regular_range

#: What the support console shows of a plan: not its terms (but whether the borrower chose it
#: over their budget) or the consent's text.
_PLAN_FOR_SUPPORT = (
    "id, loan_id, borrower_id, option_id, structure, currency, payments, first_due_date,"
    " monthly_min, monthly_max, total_repayable, apr, accepted_at, status, ended_at,"
    " coalesce(json_extract(terms, '$.chosen_over_budget'), 0) AS chosen_over_budget"
)
_INSTALMENT_FOR_SUPPORT = "number, due_date, kind, amount, principal, interest, fees, status, paid, paid_at"
_PAUSE_COLUMNS = ("first_date", "last_date", "months", "interest", "capitalised")


class PlanQueries(ReminderQueries):
    # -------------------------------------------------------------- recording a plan

    def save_plan(
        self,
        *,
        loan_id: str,
        borrower_id: int,
        option: dict,
        installments: list[dict],
        consent_text: str,
        consent_user_id: int | None,
        consent_update_id: int | None,
        accepted_at: datetime,
    ) -> int:
        """Record an accepted plan and its installments in one transaction; return its id.

        `option` needs option_id, structure, currency, total_repayable and apr (the whole dict
        is kept as `terms`). Each installment needs number, due_date, amount (or `payment`, as
        in the engine's schedule rows), principal, interest, fees and optionally kind.
        The same (loan_id, consent_update_id) twice - a double tap - records one plan.
        """
        rows = [self._installment(item) for item in installments]
        if not rows:
            raise StoreError("a plan needs at least one installment")
        try:
            low, high = regular_range([(r["kind"], Decimal(r["amount"])) for r in rows], option["currency"])
        except KeyError as exc:
            raise StoreError(f"the option has no {exc.args[0]!r}") from None
        try:
            plan = encode(
                "plans",
                {
                    "loan_id": loan_id,
                    "borrower_id": borrower_id,
                    "option_id": str(option["option_id"]),
                    "structure": str(option["structure"]),
                    "currency": option["currency"],
                    "payments": len(rows),
                    "first_due_date": min(r["due_date"] for r in rows),
                    "monthly_min": low,
                    "monthly_max": high,
                    "total_repayable": option["total_repayable"],
                    "apr": option["apr"],
                    "accepted_at": accepted_at,
                    "terms": option,
                    "consent_text": consent_text,
                    "consent_sha256": hashlib.sha256(consent_text.encode("utf-8")).hexdigest(),
                    "consent_user_id": consent_user_id,
                    "consent_update_id": consent_update_id,
                },
            )
        except KeyError as exc:
            raise StoreError(f"the option has no {exc.args[0]!r}") from None
        with self.transaction():
            cursor = self.db.execute(
                f"INSERT INTO plans ({', '.join(plan)}) VALUES ({', '.join(':' + c for c in plan)})"
                " ON CONFLICT (loan_id, consent_update_id) DO NOTHING",
                plan,
            )
            if cursor.rowcount == 0:
                return int(
                    self._value(
                        "SELECT id FROM plans WHERE loan_id = ? AND consent_update_id = ?", (loan_id, consent_update_id)
                    )
                )
            plan_id = cursor.lastrowid
            assert plan_id is not None  # a row was inserted
            for row in rows:
                self.db.execute(
                    f"INSERT INTO installments (plan_id, {', '.join(row)})"
                    f" VALUES (:plan_id, {', '.join(':' + c for c in row)})",
                    {"plan_id": plan_id, **row},
                )
        return plan_id

    @staticmethod
    def _installment(item: dict) -> Row:
        """One schedule row as stored (amounts as decimal text, the day as ISO)."""
        try:
            return encode(
                "installments",
                {
                    "number": int(item["number"]),
                    "due_date": item["due_date"],
                    "kind": item.get("kind", "instalment"),
                    "amount": item["amount"] if "amount" in item else item["payment"],
                    **{c: item[c] for c in ("principal", "interest", "fees")},
                },
            )
        except KeyError as exc:
            raise StoreError(f"an installment has no {exc.args[0]!r}") from None

    def save_plan_pauses(self, plan_id: int, pauses: list[dict]) -> None:
        """A plan's pauses (first_date, last_date, months, interest, capitalised each); saving
        them twice (a double tap on "I agree") keeps one of each. Part of saving the plan: runs
        in the caller's transaction."""
        self._in_transaction("saving a plan's pauses")
        rows = [encode("plan_pauses", {"plan_id": plan_id, **{c: p[c] for c in _PAUSE_COLUMNS}}) for p in pauses]
        self.db.conn.executemany(
            f"INSERT INTO plan_pauses (plan_id, {', '.join(_PAUSE_COLUMNS)})"
            f" VALUES (:plan_id, {', '.join(':' + c for c in _PAUSE_COLUMNS)})"
            " ON CONFLICT (plan_id, first_date) DO NOTHING",
            rows,
        )

    # -------------------------------------------------------------- reading plans

    def plan_pauses(self, plan_id: int) -> list[Row]:
        """The plan's pauses in date order (due dates with nothing to pay: never instalments)."""
        return self._all(
            f"SELECT {', '.join(_PAUSE_COLUMNS)} FROM plan_pauses WHERE plan_id = ? ORDER BY first_date",
            (plan_id,),
            TABLES["plan_pauses"],
        )

    def list_plans(self, *, plan_id: int | None = None) -> list[Row]:
        """Accepted plans (or the one `plan_id`), newest first, amounts as Decimal and `terms`
        as a dict."""
        where, params = ("WHERE id = ?", (plan_id,)) if plan_id is not None else ("", ())
        return self._all(f"SELECT * FROM plans {where} ORDER BY accepted_at DESC, id DESC", params, TABLES["plans"])

    def plan(self, plan_id: int) -> Row:
        """The plan with this id (StoreError if there is none)."""
        return found(next(iter(self.list_plans(plan_id=plan_id)), None), f"plan {plan_id}")

    def plan_installments(self, plan_id: int) -> list[Row]:
        return self._all(
            "SELECT * FROM installments WHERE plan_id = ? ORDER BY number", (plan_id,), TABLES["installments"]
        )

    def active_plan_for_loan(self, loan_id: str) -> Row | None:
        plan_id = self._value(
            "SELECT id FROM plans WHERE loan_id = ? AND status = ? ORDER BY id DESC LIMIT 1",
            (loan_id, PlanStatus.ACTIVE),
        )
        return None if plan_id is None else self.plan(plan_id)

    def active_plan_for_borrower(self, borrower_id: int) -> Row | None:
        plan_id = self._value(
            "SELECT id FROM plans WHERE borrower_id = ? AND status = ? ORDER BY id DESC LIMIT 1",
            (borrower_id, PlanStatus.ACTIVE),
        )
        return None if plan_id is None else self.plan(plan_id)

    def plans_accepted_since(self, loan_id: str, since: datetime) -> int:
        return int(
            self._value(
                "SELECT count(*) FROM plans WHERE loan_id = ? AND accepted_at >= ?", (loan_id, to_timestamp(since))
            )
        )

    def plans_for_support(self, *, borrower_id: int | None, loan_id: str | None) -> list[Row]:
        """The borrower's plans for this loan (or all of the borrower's), newest first, without
        their terms or consent text (`chosen_over_budget` only, of the terms)."""
        if borrower_id is None and loan_id is None:
            return []
        where: list[str] = []
        params: list[Any] = []
        if borrower_id is not None:
            where.append("borrower_id = ?")
            params.append(borrower_id)
        if loan_id is not None:
            where.append("loan_id = ?")
            params.append(loan_id)
        return self._all(
            f"SELECT {_PLAN_FOR_SUPPORT} FROM plans WHERE {' AND '.join(where)} ORDER BY accepted_at DESC, id DESC",
            params,
            columns("plans", chosen_over_budget=FLAG),
        )

    def installments_for_support(self, plan_id: int) -> list[Row]:
        return self._all(
            f"SELECT {_INSTALMENT_FOR_SUPPORT} FROM installments WHERE plan_id = ? ORDER BY number",
            (plan_id,),
            TABLES["installments"],
        )

    # -------------------------------------------------------------- instalments

    def set_instalment_payment(
        self, plan_id: int, number: int, *, paid: Decimal, status: InstalmentStatus, at: datetime
    ) -> None:
        self._in_transaction("recording what a payment paid of an instalment")
        status = InstalmentStatus(status)
        old = self._value("SELECT status FROM installments WHERE plan_id = ? AND number = ?", (plan_id, number))
        self.db.execute(
            "UPDATE installments SET paid = ?, status = ?, paid_at = ? WHERE plan_id = ? AND number = ?",
            (to_money_text(paid), status, to_timestamp(at), plan_id, number),
        )
        if old is not None and old != status:
            self._plan_audit(f"instalment_{status}", plan_id, at, number=number, was=old)

    def mark_instalment_missed(self, plan_id: int, number: int, at: datetime) -> bool:
        """due | partly_paid -> missed (audited); False if it was neither."""
        self._in_transaction("marking an instalment missed")
        cursor = self.db.execute(
            f"UPDATE installments SET status = ? WHERE plan_id = ? AND number = ?"
            f" AND status IN {sql_list(UNPAID_NOT_MISSED)}",
            (InstalmentStatus.MISSED, plan_id, number),
        )
        if cursor.rowcount:
            self._plan_audit("instalment_missed", plan_id, at, number=number)
        return bool(cursor.rowcount)

    def report_payment(self, plan_id: int, amount: Decimal, paid_on: date, at: datetime) -> None:
        """The borrower says they paid: noted on the oldest unpaid instalment until an import
        confirms it."""
        with self.transaction():
            row = self._one(
                f"SELECT number, reported FROM installments WHERE plan_id = ?"
                f" AND status IN {sql_list(UNPAID)} ORDER BY number LIMIT 1",
                (plan_id,),
                TABLES["installments"],
            )
            if row is None:
                return
            reported = (row["reported"] or Decimal(0)) + amount
            self.db.execute(
                "UPDATE installments SET reported = ?, reported_at = ? WHERE plan_id = ? AND number = ?",
                (to_money_text(reported), to_timestamp(at), plan_id, row["number"]),
            )
            self._plan_audit("payment_reported", plan_id, at, number=row["number"], amount=amount, paid_on=paid_on)

    def instalments_unpaid_before(self, day: date) -> list[Row]:
        """Unpaid instalments of active plans due before `day` (candidates for `missed`).

        Two steps on purpose: the (status, due_date) index finds the few candidates, then
        their plans are looked up by id; a join lets SQLite's planner scan every plan."""
        candidates = sorted(
            self._rows(  # sorted here: ORDER BY in SQL tempts a full index scan
                f"SELECT plan_id, number, due_date FROM installments WHERE status IN {sql_list(UNPAID_NOT_MISSED)}"
                " AND due_date < ?",
                (day.isoformat(),),
                TABLES["installments"],
            ),
            key=lambda row: (row["plan_id"], row["number"]),
        )
        plan_ids = sorted({row["plan_id"] for row in candidates})
        owners: dict[int, Row] = {}
        for start in range(0, len(plan_ids), 500):
            chunk = plan_ids[start : start + 500]
            owners.update(
                (row["id"], row)
                for row in self._rows(
                    "SELECT p.id, p.borrower_id, b.timezone FROM plans p JOIN borrowers b ON b.id = p.borrower_id"
                    f" WHERE p.id IN ({placeholders(chunk)}) AND p.status = ?",
                    (*chunk, PlanStatus.ACTIVE),
                )
            )
        return [
            {
                **row,
                "borrower_id": owners[row["plan_id"]]["borrower_id"],
                "timezone": owners[row["plan_id"]]["timezone"],
            }
            for row in candidates
            if row["plan_id"] in owners
        ]

    def missed_count(self, plan_id: int) -> int:
        return int(
            self._value(
                "SELECT count(*) FROM installments WHERE plan_id = ? AND status = ?", (plan_id, InstalmentStatus.MISSED)
            )
        )

    # -------------------------------------------------------------- the plan's end

    def end_plan(self, plan_id: int, status: PlanStatus, at: datetime, *, superseded_by: int | None = None) -> bool:
        """active -> completed | broken | superseded; pending reminders are cancelled."""
        if status not in PLAN_END_STATES:
            raise ValueError(f"not an end state: {status}")
        status = PlanStatus(status)
        with self.transaction():
            cursor = self.db.execute(
                "UPDATE plans SET status = ?, ended_at = ?, superseded_by = ? WHERE id = ? AND status = ?",
                (status, to_timestamp(at), superseded_by, plan_id, PlanStatus.ACTIVE),
            )
            if not cursor.rowcount:
                return False
            self.cancel_pending_reminders(plan_id, f"plan {status}")
            self._plan_audit(f"plan_{status}", plan_id, at, superseded_by=superseded_by)
        return True

    def _plan_audit(self, event: str, plan_id: int, at: datetime, **details: Any) -> None:
        plan = self._one("SELECT loan_id, borrower_id FROM plans WHERE id = ?", (plan_id,))
        if plan is None:
            raise StoreError(f"no plan {plan_id}")
        self.audit(event, at=at, borrower_id=plan["borrower_id"], loan_id=plan["loan_id"], plan_id=plan_id, **details)

    # -------------------------------------------------------------- payments

    def record_payment(
        self,
        *,
        loan_id: str,
        plan_id: int | None,
        amount: Decimal,
        unapplied: Decimal,
        paid_at: datetime,
        reference: str,
        source: str,
    ) -> int | None:
        """Insert a payment; None if its reference was already recorded (imports are idempotent)."""
        cursor = self.db.execute(
            "INSERT INTO payments (loan_id, plan_id, amount, unapplied, paid_at, reference, source, imported_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (reference) DO NOTHING",
            (
                loan_id,
                plan_id,
                to_money_text(amount),
                to_money_text(unapplied),
                to_timestamp(paid_at),
                reference,
                source,
                to_timestamp(self.clock()),
            ),
        )
        return cursor.lastrowid if cursor.rowcount else None
