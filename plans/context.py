"""Everything one quote needs, resolved once: the case, the rules for its product, the budget
and the calendar (first due date, due day)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property

from plans.budget import Budget
from plans.dates import due_dates, first_due_date
from plans.models import Case, Structure
from plans.policy import Policy, ProductPolicy
from plans.restructure import Debt, restructure
from plans.schedule import Basis


@dataclass(frozen=True)
class Context:
    case: Case
    policy: Policy

    @cached_property
    def rules(self) -> ProductPolicy:
        return self.policy.for_product(self.case.loan.product)

    @cached_property
    def budget(self) -> Budget:
        return Budget(self.case.finances, self.policy.affordability)

    @property
    def currency(self) -> str:
        return self.case.loan.currency

    @property
    def due_day(self) -> int:
        """Keep the contract's day of the month, so the plan fits the borrower's pay cycle."""
        return self.case.loan.next_due_date.day

    @cached_property
    def first_due(self) -> date:
        return first_due_date(self.case.as_of, self.due_day, self.policy.first_due_min_days)

    @cached_property
    def down_payment_date(self) -> date:
        return self.case.as_of + timedelta(days=self.policy.down_payment_days)

    @cached_property
    def disposable(self) -> list[Decimal]:
        """Disposable income in each possible month of the longest plan allowed."""
        dates = due_dates(self.first_due, self.rules.max_term_months, self.due_day)
        finances = self.case.finances
        costs = finances.essential_total + finances.other_debt_payments
        return [finances.income_in(k, due.month) - costs for k, due in enumerate(dates)]

    @cached_property
    def affordable(self) -> list[Decimal]:
        """Affordable payment for each possible month of the longest plan allowed."""
        known: dict[Decimal, Decimal] = {}  # a few distinct incomes repeat month after month
        result = []
        for amount in self.disposable:
            room = known.get(amount)
            if room is None:
                room = known[amount] = self.budget.affordable_from(amount)
            result.append(room)
        return result

    def debt(self, structure: Structure) -> Debt:
        return restructure(self.case.loan, self.case.finances.hardship_reason, self.policy, structure)

    def basis(self, debt: Debt, *, as_of: date | None = None, first_due: date | None = None) -> Basis:
        return Basis(
            principal=debt.principal,
            fees=debt.fees,
            annual_rate=debt.rate,
            currency=self.currency,
            as_of=as_of or self.case.as_of,
            first_due=first_due or self.first_due,
            due_day=self.due_day,
        )
