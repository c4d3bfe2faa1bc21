"""Applying a payment to a plan's instalments: the oldest unpaid first.

A payment fills the oldest instalment that is not fully paid, then the next, and so on; what
is left after the last instalment is an overpayment, returned as `unapplied` (the lender
decides what to do with it). An instalment is `paid` once fully covered, `partly_paid` while
something is left, and a `missed` one stays missed until fully paid. Pure: no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from plans.errors import CaseError
from plans.money import ZERO

UNPAID = ("due", "partly_paid", "missed")


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
        status = "paid" if paid >= item.amount else ("missed" if item.status == "missed" else "partly_paid")
        updated.append(Instalment(item.number, item.amount, paid, status))
    return Allocation(updated, left if left > 0 else ZERO)
