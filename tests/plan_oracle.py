"""An independent statement of the rules a plan is held to, written from the issue and the
README, not from `plans/`: what a calendar month leaves for the loan, whether every month of
a schedule fits, and the APR on the actual dates of the flows. The engine's tests compare
the engine with it."""

from __future__ import annotations

import math
from datetime import date
from decimal import ROUND_FLOOR
from decimal import Decimal as D

from plans.models import Case, Option
from plans.policy import Policy


def income_in(case: Case, year: int, month: int) -> D:
    """The month's income: the change "in about N months" dated from as_of (the calendar
    month N months after as_of's and later have the new income), at least the high amount
    in the seasonal months."""
    f = case.finances

    def seasonal(amount: D) -> D:
        high = f.high_income_months
        return max(amount, high.monthly_income) if high is not None and month in high.months else amount

    now = seasonal(f.monthly_income)
    if f.income_after_recovery is None or f.expected_recovery_months <= 0:
        return now
    months_from_now = (year - case.as_of.year) * 12 + month - case.as_of.month
    return seasonal(f.income_after_recovery) if months_from_now >= f.expected_recovery_months else now


def available(case: Case, policy: Policy, income: D) -> D:
    f, rules = case.finances, policy.affordability
    disposable = income - f.essential_total - f.other_debt_payments
    reserve = rules.min_income_left + rules.min_left_per_dependant * f.dependants
    amount = max(D(0), min(disposable * rules.max_share_of_disposable, disposable - reserve))
    unit = D(1) if case.loan.currency == "JPY" else D("0.01")
    return amount.quantize(unit, ROUND_FLOOR)


def month_gaps(option: Option, case: Case, policy: Policy) -> list[tuple[tuple[int, int], D]]:
    """(year, month), what is left to pay that month beyond its available amount, for every
    calendar month with something due; savings pay the earliest payments first, once."""
    due: dict[tuple[int, int], D] = {}
    for row in option.schedule:
        key = (row.due_date.year, row.due_date.month)
        due[key] = due.get(key, D(0)) + row.payment
    savings = case.finances.savings_available
    gaps = []
    for key in sorted(due):
        used = min(savings, due[key])
        savings -= used
        gaps.append((key, due[key] - used - available(case, policy, income_in(case, *key))))
    return gaps


def fits_every_month(option: Option, case: Case, policy: Policy) -> bool:
    return all(gap <= 0 for _, gap in month_gaps(option, case, policy))


def npv_at_apr(option: Option, as_of: date, financed: D) -> float:
    """The net present value of the flows at the option's APR / 12 a month, a month being
    365/12 days (the EU annex's days / 365, in twelfths): ~0 when the APR is right."""
    rate = float(option.apr) / 12
    value = float(financed)
    for row in option.schedule:
        t = (row.due_date - as_of).days / (365 / 12)
        value -= float(row.payment) * math.exp(-t * math.log1p(rate))
    return value
