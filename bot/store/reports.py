"""SQL for the lender's report: each `report_*` method returns plain rows or counts, amounts as
Decimal (summed in Python: SQLite's sum() would go through float); `bot.lender.reports` does
the arithmetic and says what each figure means. (installments.kind: down_payment,
interest_only, instalment or settlement, as the engine's schedule names them.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal

from bot.store.base import Row, StoreBase
from bot.store.codec import DAY, TABLES, columns, to_decimal, to_timestamp
from bot.store.statuses import UNPAID_NOT_MISSED, InstalmentStatus, PlanStatus, sql_list
from plans.models import regular_payments

_LATE = sql_list(UNPAID_NOT_MISSED)


class ReportQueries(StoreBase):
    def report_funnel(self, since: datetime | None) -> dict[str, int]:
        """Distinct borrowers (or chats, before a borrower is known) at each step since `since`."""
        at = to_timestamp(since) if since else ""

        def audit(event: str, column: str) -> int:
            return int(
                self._value(f"SELECT count(DISTINCT {column}) FROM audit WHERE event = ? AND at >= ?", (event, at))
            )

        def one(sql: str) -> int:
            return int(self._value(sql, (at,)))

        return {
            "invited": one(
                "SELECT count(DISTINCT l.borrower_id) FROM invites iv"
                " JOIN loans l ON l.loan_id = iv.loan_id WHERE iv.created_at >= ?"
            ),
            # a chat started when its first message came in (or, without messages, when saved)
            "started": one("""SELECT count(*) FROM (
                                SELECT c.chat_id, COALESCE(min(m.at), c.updated_at) AS first
                                FROM conversations c LEFT JOIN messages m
                                     ON m.chat_id = c.chat_id AND m.direction = 'in'
                                GROUP BY c.chat_id) WHERE first >= ?"""),
            "identified": audit("identified", "borrower_id"),
            "finances_given": audit("finances_given", "borrower_id"),
            "options_shown": audit("options_shown", "borrower_id"),
            "accepted": one("SELECT count(DISTINCT borrower_id) FROM plans WHERE accepted_at >= ?"),
            "declined": audit("consent_declined", "chat_id"),
            "no_affordable_plan": audit("no_affordable_plan", "borrower_id"),
        }

    def report_plans(self, since: datetime | None, today: date) -> list[Row]:
        """Plans accepted since `since`: id, loan_id, borrower_id, structure, payments,
        currency, status, `regular` (its `plans.models.regular_payments`, in order, Decimal),
        `likelihood` (the engine's completion likelihood when it was agreed, Decimal, None for
        plans agreed before it was kept), and as of `today` the counts `missed`, `late` (unpaid
        and past due, not yet missed), `reported` (what the borrower said they paid and no
        import has confirmed yet, Decimal) and `next_due` (the next unpaid instalment's due
        date from today on, or None)."""
        plans = {
            row["id"]: row
            for row in self._rows(
                f"""SELECT p.id, p.loan_id, p.borrower_id, p.structure, p.payments, p.currency, p.status, p.terms,
                       count(i.number) FILTER (WHERE i.status = '{InstalmentStatus.MISSED}') AS missed,
                       count(i.number) FILTER (WHERE i.status IN {_LATE} AND i.due_date < :today) AS late,
                       min(i.due_date) FILTER (WHERE i.status IN {_LATE} AND i.due_date >= :today) AS next_due
                FROM plans p LEFT JOIN installments i ON i.plan_id = p.id
                WHERE p.accepted_at >= :since GROUP BY p.id ORDER BY p.id""",
                {"today": today.isoformat(), "since": to_timestamp(since) if since else ""},
                columns("plans", next_due=DAY),
            )
        }
        amounts: dict[int, list[tuple[str, Decimal]]] = {plan_id: [] for plan_id in plans}
        for plan in plans.values():
            plan["likelihood"] = to_decimal(plan.pop("terms").get("completion_likelihood"))
            plan["reported"] = Decimal(0)
        for row in self._rows(
            """SELECT i.plan_id, i.kind, i.amount, i.reported, i.status FROM installments i
               JOIN plans p ON p.id = i.plan_id WHERE p.accepted_at >= :since ORDER BY i.plan_id, i.number""",
            {"since": to_timestamp(since) if since else ""},
            TABLES["installments"],
        ):
            amounts[row["plan_id"]].append((row["kind"], row["amount"]))
            if row["reported"] and row["status"] != InstalmentStatus.PAID:
                plans[row["plan_id"]]["reported"] += row["reported"]
        for plan_id, plan in plans.items():
            plan["regular"] = regular_payments(amounts[plan_id])
        return list(plans.values())

    def report_instalments_due(self, first: date, last: date) -> Iterator[Row]:
        """Instalments falling due from `first` to `last`: currency, due_date (date), amount
        (Decimal). A superseded or broken plan's only up to the day it ended: after that they
        are no longer owed under it."""
        return self._rows(
            f"""SELECT p.currency, i.due_date, i.amount FROM installments i JOIN plans p ON p.id = i.plan_id
               WHERE i.due_date BETWEEN :first AND :last
                 AND NOT (p.status IN {sql_list((PlanStatus.SUPERSEDED, PlanStatus.BROKEN))}
                          AND p.ended_at IS NOT NULL AND i.due_date > substr(p.ended_at, 1, 10))""",
            {"first": first.isoformat(), "last": last.isoformat()},
            TABLES["installments"],
        )

    def report_payments(self, since: datetime | None, until: datetime) -> Iterator[Row]:
        """Payments received from `since` up to `until`: the loan's currency, paid_at
        (datetime, UTC), amount (Decimal)."""
        return self._rows(
            """SELECT l.currency, pm.paid_at, pm.amount FROM payments pm JOIN loans l ON l.loan_id = pm.loan_id
               WHERE pm.paid_at >= :since AND pm.paid_at <= :until""",
            {"since": to_timestamp(since) if since else "", "until": to_timestamp(until)},
            TABLES["payments"],
        )

    def report_first_activity(self) -> date | None:
        """The earliest due date or payment day on the books (where a report without --since
        starts its months)."""
        due = self._value("SELECT min(due_date) FROM installments")
        paid = self._value("SELECT min(substr(paid_at, 1, 10)) FROM payments")
        days = [date.fromisoformat(day) for day in (due, paid) if day]
        return min(days) if days else None
