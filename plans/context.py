"""Everything one quote needs, resolved once: the case, the rules for its product, the budget
and the calendar (the payment day, the first due date, the last date a plan may reach)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Any

from plans.budget import Budget
from plans.dates import add_months, due_dates, due_dates_until, first_due_date, month_number
from plans.errors import CaseError
from plans.models import Case, Check, Structure
from plans.policy import Policy, ProductPolicy
from plans.restructure import Debt, restructure
from plans.schedule import Basis


@dataclass(frozen=True)
class Context:
    case: Case
    policy: Policy
    #: the plan rate when it had to be brought down to the APR cap (None: the policy's rate)
    rate: Decimal | None = None

    def __post_init__(self) -> None:
        day = self.case.finances.payment_day
        days = self.policy.payment_days
        if day is not None and not days.allows(day):
            raise CaseError(
                f"must be a day from {days.earliest} to {days.latest} (the days the lender allows)",
                field="finances.payment_day",
            )

    def with_rate(self, rate: Decimal) -> Context:
        return Context(self.case, self.policy, rate)

    @cached_property
    def rules(self) -> ProductPolicy:
        return self.policy.for_product(self.case.loan.product)

    @cached_property
    def budget(self) -> Budget:
        return Budget(self.case.finances, self.policy.affordability, self.case.as_of, self.currency)

    @property
    def currency(self) -> str:
        return self.case.loan.currency

    @property
    def savings(self) -> Decimal:
        return self.case.finances.savings_available

    @cached_property
    def due_day(self) -> int:
        """The day the borrower chose (their payday), else the contract's day of the month."""
        return self.case.finances.payment_day or self.case.loan.next_due_date.day

    @cached_property
    def first_due(self) -> date:
        return first_due_date(self.case.as_of, self.due_day, self.policy.first_due_min_days)

    @cached_property
    def down_payment_date(self) -> date:
        return self.case.as_of + timedelta(days=self.policy.down_payment_days)

    @cached_property
    def last_allowed(self) -> date:
        """The policy's term is a span: no payment after this date (as-of + max term)."""
        return add_months(self.case.as_of, self.rules.max_term_months)

    @cached_property
    def longest(self) -> int:
        """The most monthly payments from the first due date that end by `last_allowed`."""
        return due_dates_until(self.first_due, self.due_day, self.last_allowed)

    @cached_property
    def grid(self) -> list[date]:
        """The due dates a plan may use: from the first due date to `last_allowed`."""
        return due_dates(self.first_due, self.longest, self.due_day)

    @cached_property
    def rooms(self) -> list[Decimal]:
        """What each month of `grid` leaves for this loan."""
        return self.budget.tabulate(month_number(self.first_due), self.longest)

    @cached_property
    def change_index(self) -> int | None:
        """The index in `grid` of the first month on the income after the expected change,
        if the plan's calendar has months both before and after it."""
        if not self.case.finances.income_changes:
            return None
        changed = self.budget.changed
        index = next((k for k, day in enumerate(self.grid) if changed(month_number(day))), None)
        return index if index else None

    @cached_property
    def check_limits(self) -> dict[str, Any]:
        """What the compliance checks of every option share: the limits as text, and the
        re-plan check itself (a property of the loan, not of the option)."""
        rules, policy, loan = self.rules, self.policy, self.case.loan
        return {
            "term": str(rules.max_term_months),
            "span": self.last_allowed.isoformat(),
            "apr_cap": str(policy.apr_cap),
            "min_installment": str(rules.min_installment),
            "structures": ",".join(s.value for s in rules.structures),
            "replan_limit": Check(
                "replan_limit",
                str(loan.prior_restructures),
                str(policy.replan_limit_12m),
                loan.prior_restructures < policy.replan_limit_12m,
            ),
        }

    def debt(self, structure: Structure) -> Debt:
        if structure is Structure.interest_freeze:
            return restructure(self.case.loan, self.case.finances.hardship_reason, self.policy, structure)
        return self._common_debt

    @cached_property
    def _common_debt(self) -> Debt:
        """The restructured debt every structure but the interest freeze repays (it is the
        same for all of them; only the freeze changes the rate and asks a down payment)."""
        return restructure(self.case.loan, self.case.finances.hardship_reason, self.policy, Structure.level, self.rate)

    def basis(
        self,
        debt: Debt,
        *,
        as_of: date | None = None,
        first_due: date | None = None,
        first_period: Decimal | None = None,
    ) -> Basis:
        return Basis(
            principal=debt.principal,
            fees=debt.fees,
            annual_rate=debt.rate,
            currency=self.currency,
            as_of=as_of or self.case.as_of,
            first_due=first_due or self.first_due,
            due_day=self.due_day,
            first_period_months=first_period,
        )
