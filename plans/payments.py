"""Applying a payment to a plan's instalments (the oldest unpaid first), and what a plan
still leaves owed when it is replaced (`loan_left_by_plan`).

A payment fills the oldest instalment that is not fully paid, then the next, and so on; what
is left after the last instalment is an overpayment, returned as `unapplied` (the lender
decides what to do with it). An instalment is `paid` once fully covered, `partly_paid` while
something is left, and a `missed` one stays missed until fully paid. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from plans.errors import CaseError
from plans.models import Loan
from plans.money import ZERO
from plans.statuses import UNPAID, InstalmentStatus


@dataclass(frozen=True, slots=True)
class Instalment:
    number: int
    amount: Decimal
    paid: Decimal
    status: str

    @property
    def owed(self) -> Decimal:
        return self.amount - self.paid


@dataclass(frozen=True, slots=True)
class Allocation:
    updated: list[Instalment]  # only the instalments the payment touched
    unapplied: Decimal


def allocate(amount: Decimal, instalments: list[Instalment]) -> Allocation:
    if amount <= 0:
        raise CaseError("must be positive", field="amount")
    left = amount
    updated = []
    for item in sorted(instalments, key=lambda i: i.number):
        if left == 0:
            break
        if item.status not in UNPAID or item.owed <= 0:
            continue
        share = min(left, item.owed)
        paid = item.paid + share
        left -= share
        if paid >= item.amount:
            status = InstalmentStatus.PAID
        else:  # a missed one stays missed until fully paid
            status = InstalmentStatus.MISSED if item.status == InstalmentStatus.MISSED else InstalmentStatus.PARTLY_PAID
        updated.append(Instalment(item.number, item.amount, paid, status))
    return Allocation(updated, left if left > 0 else ZERO)


@dataclass(frozen=True, slots=True)
class ScheduledPart:
    """One row of an agreed plan as recorded: its parts, what was paid of it, its status."""

    due_date: date
    principal: Decimal
    interest: Decimal
    fees: Decimal
    paid: Decimal
    status: str


def loan_left_by_plan(loan: Loan, rows: Iterable[ScheduledPart], today: date, prior_restructures: int) -> Loan:
    """What an agreed plan still leaves owed, as a `Loan` to re-plan from.

    What was paid of a row covers its fees first, then its interest, then its principal.
    Unpaid principal of rows due before `today` is overdue, the rest outstanding; unpaid
    interest of past rows is overdue interest. Unpaid fees (kept penalties, uncapitalised
    interest, fees carried before) stay fees: `carried_fees`, repaid interest-free and never
    waived again. They must not become "overdue interest", which a new plan may capitalise
    and charge interest on.
    """
    outstanding = overdue_principal = overdue_interest = fees = ZERO
    oldest_unpaid = None
    future = []
    for row in rows:
        if row.status not in UNPAID:
            continue
        paid = row.paid
        fees += max(row.fees - paid, ZERO)
        paid = max(paid - row.fees, ZERO)
        interest_left = max(row.interest - paid, ZERO)
        paid = max(paid - row.interest, ZERO)
        principal_left = row.principal - paid
        if row.due_date < today:
            oldest_unpaid = min(oldest_unpaid or row.due_date, row.due_date)
            overdue_principal += principal_left
            overdue_interest += interest_left
        else:
            outstanding += principal_left
            future.append(row.due_date)
    return loan.model_copy(
        update={
            "outstanding_principal": outstanding,
            "overdue_principal": overdue_principal,
            "overdue_interest": overdue_interest,
            "penalty_fees": ZERO,
            "carried_fees": fees,
            "days_past_due": (today - oldest_unpaid).days if oldest_unpaid else 0,
            "next_due_date": min(future) if future else today,
            "remaining_term_months": len(future),
            "prior_restructures": prior_restructures,
        }
    )
