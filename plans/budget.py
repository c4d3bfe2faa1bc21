"""What the borrower can afford, month by month.

Disposable income is net income less essential expenses and other debt payments. One payment
may take at most the policy's share of it and must leave at least the policy's minimum; the
month's income follows the borrower's account (recovery after N months, seasonal highs).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from plans.models import Finances
from plans.money import ZERO
from plans.policy import Affordability


@dataclass(frozen=True)
class Budget:
    finances: Finances
    rules: Affordability

    def disposable(self, month_index: int, calendar_month: int) -> Decimal:
        income = self.finances.income_in(month_index, calendar_month)
        return income - self.finances.essential_total - self.finances.other_debt_payments

    def affordable_from(self, disposable: Decimal) -> Decimal:
        """The largest payment a month with this disposable income can carry (never < 0)."""
        if disposable <= 0:
            return ZERO
        by_share = disposable * self.rules.max_share_of_disposable
        return max(ZERO, min(by_share, disposable - self.rules.min_income_left))

    def affordable(self, month_index: int, calendar_month: int) -> Decimal:
        return self.affordable_from(self.disposable(month_index, calendar_month))

    def affordable_by_month(self, dates: list[date]) -> list[Decimal]:
        return [self.affordable(k, due.month) for k, due in enumerate(dates)]

    @property
    def disposable_now(self) -> Decimal:
        return self.finances.disposable_income

    @property
    def affordable_now(self) -> Decimal:
        return self.affordable_from(self.disposable_now)
