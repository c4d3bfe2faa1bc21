"""Annualised cost of a plan from its dated cash flows.

Time is measured on the actual dates: a flow d days after the as-of date is at
t = d / (365 / 12) "months" (the EU consumer-credit directive's annex measures years as
d / 365; a month is a twelfth of that), so a long first period is priced for what it is.
The monthly rate i solves sum(amount x (1 + i)^-t) = 0 (the amount financed +, payments -);
APR = i x 12, as Chinese disclosure practice states it, and the effective annual rate
(1 + i)^12 - 1, which equals the EU annex's annual rate, is shown beside it.

The IRR is a *rate shown to 0.01%*, not money, so it is solved in binary floating point
(Newton's method, bisection as a fallback) from the exact Decimal flows and returned as a
Decimal rounded to 10 places; the APR and the effective annual rate are stated to 8 (both
half-even, through `plans.money.round_places`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

from plans.errors import PlanError
from plans.money import round_places

#: a month is a twelfth of a 365-day year: t = days x MONTHS_PER_DAY
MONTHS_PER_DAY = 12 / 365
#: the monthly IRR is stated to 10 places, the APR and the effective annual rate to 8
IRR_PLACES = 10
APR_PLACES = 8

#: (t in months after the as-of date, amount: + financed, - paid)
Flow = tuple[float | Decimal, Decimal]


def months_after(start: date, day: date) -> float:
    """The time from `start` to `day` in months of 365/12 days."""
    return (day - start).days * MONTHS_PER_DAY


def _npv(rate: float, flows: Sequence[tuple[float, float]]) -> float:
    return sum(amount * (1.0 + rate) ** -t for t, amount in flows)


def monthly_irr(flows: Sequence[Flow], guess: float = 0.01) -> Decimal:
    """The monthly rate i with sum(amount / (1 + i)^t) = 0, t in months. Raises if the flows
    have none. `guess` starts Newton's method (the plan's own monthly rate is a good one)."""
    return monthly_irr_of([prepared_flow(float(t), float(amount)) for t, amount in flows if amount], guess)


def dated_irr(as_of: date, flows: Sequence[tuple[date, Decimal]], guess: float = 0.01) -> Decimal:
    """`monthly_irr` of flows on dates, t = days after `as_of` / (365 / 12)."""
    return monthly_irr([(months_after(as_of, day), amount) for day, amount in flows], guess)


def prepared_flow(t: float, amount: float) -> tuple[float, float, float]:
    """A non-zero flow with what every Newton iteration needs: (t, amount, t x amount)."""
    return t, amount, t * amount


def monthly_irr_of(prepared: Sequence[tuple[float, float, float]], guess: float = 0.01) -> Decimal:
    """The monthly IRR of flows made by `prepared_flow`, zero amounts left out."""
    if not prepared or all(f[1] >= 0 for f in prepared) or all(f[1] <= 0 for f in prepared):
        raise PlanError("cash flows have no internal rate of return")
    rate = float(guess)
    exp, log = math.exp, math.log
    for _ in range(50):
        base = 1.0 + rate
        minus_log = -log(base)
        value = 0.0
        slope = 0.0
        for t, amount, weighted in prepared:
            discount = exp(t * minus_log)
            value += amount * discount
            slope -= weighted * discount
        slope /= base
        if slope == 0:
            break
        step = value / slope
        rate -= step
        if rate <= -0.99 or not math.isfinite(rate):
            break
        # Newton's error after a step of s is about s^2 x (a few hundred at most, for these
        # flows): once s < 1e-11 the rate is good to far below the 1e-10 it is rounded to.
        if abs(step) < 1e-11:
            return _stated(rate)
    return _bisect([(f[0], f[1]) for f in prepared])


def _bisect(flows: Sequence[tuple[float, float]]) -> Decimal:
    low, high = -0.99, 10.0
    f_low = _npv(low, flows)
    if f_low * _npv(high, flows) > 0:
        raise PlanError("cash flows have no internal rate of return in range")
    for _ in range(200):
        mid = (low + high) / 2
        f_mid = _npv(mid, flows)
        if f_low * f_mid <= 0:
            high = mid
        else:
            low, f_low = mid, f_mid
    return _stated((low + high) / 2)


def _stated(rate: float) -> Decimal:
    """The solved monthly rate as a Decimal, to `IRR_PLACES` (half-even, Decimal's default)."""
    return round_places(Decimal(repr(rate)), IRR_PLACES, ROUND_HALF_EVEN)


def apr_from_monthly(rate: Decimal) -> tuple[Decimal, Decimal]:
    """(APR, effective annual rate), each rounded to `APR_PLACES` (8) places, half-even."""
    effective = (1 + rate) ** 12 - 1
    return round_places(rate * 12, APR_PLACES, ROUND_HALF_EVEN), round_places(effective, APR_PLACES, ROUND_HALF_EVEN)
