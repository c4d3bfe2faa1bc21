"""Everything one quote needs, resolved once: the case, the rules for its product, the budget
and the calendar (first due date, due day)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from plans.budget import Budget
from plans.dates import due_dates, first_due_date
from plans.models import Case, Check, Structure
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
        finances = self.case.finances
        costs = finances.essential_total + finances.other_debt_payments
        months = self.rules.max_term_months
        if finances.high_income_months is None and (
            finances.income_after_recovery is None or finances.expected_recovery_months <= 0
        ):
            return [finances.monthly_income - costs] * months  # the same every month
        dates = due_dates(self.first_due, months, self.due_day)
        # A month with the same income as the one before shares its object, so a pass over a
        # schedule can tell runs of equal months apart by `is` (see plans.evaluate._walk).
        result: list[Decimal] = []
        previous = None
        for k, due in enumerate(dates):
            amount = finances.income_in(k, due.month) - costs
            if amount == previous:
                amount = previous
            result.append(amount)
            previous = amount
        return result

    @cached_property
    def affordable(self) -> list[Decimal]:
        """Affordable payment for each possible month of the longest plan allowed."""
        result: list[Decimal] = []
        previous = room = None
        for amount in self.disposable:
            if amount is not previous:
                room = self.budget.affordable_from(amount)
                previous = amount
            result.append(room)
        return result

    @cached_property
    def check_limits(self) -> dict[str, Any]:
        """What the compliance checks of every option share: the limits as text, and the
        re-plan check itself (a property of the loan, not of the option)."""
        rules, policy, loan = self.rules, self.policy, self.case.loan
        return {
            "term": str(rules.max_term_months),
            "apr_cap": str(policy.apr_cap),
            "min_installment": str(rules.min_installment),
            "structures": ",".join(s.value for s in rules.structures),
            "replan_limit": Check("replan_limit", str(loan.prior_restructures), str(policy.replan_limit_12m),
                                  loan.prior_restructures < policy.replan_limit_12m),
        }

    def debt(self, structure: Structure) -> Debt:
        if structure is Structure.interest_freeze:
            return restructure(self.case.loan, self.case.finances.hardship_reason, self.policy, structure)
        return self._common_debt

    @cached_property
    def _common_debt(self) -> Debt:
        """The restructured debt every structure but the interest freeze repays (it is the
        same for all of them; only the freeze changes the rate and asks a down payment)."""
        return restructure(self.case.loan, self.case.finances.hardship_reason, self.policy, Structure.level)

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
