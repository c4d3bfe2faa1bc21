"""Annualised cost of a plan from its dated cash flows.

APR = monthly IRR x 12, as Chinese disclosure practice states it; the effective annual rate
(1 + i)^12 - 1 is shown beside it. Flows are (time in months from the as-of date, amount):
the amount financed is +, each payment -. The IRR is a *rate shown to 0.01%*, not money, so it
is solved in binary floating point (Newton's method, bisection as a fallback) from the exact
Decimal flows and returned as a Decimal rounded to 8 places.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal

from plans.errors import PlanError

Flow = tuple[Decimal, Decimal]


def _npv(rate: float, flows: Sequence[tuple[float, float]]) -> float:
    return sum(amount * (1.0 + rate) ** -t for t, amount in flows)


def monthly_irr(flows: Sequence[Flow], guess: float = 0.01) -> Decimal:
    """The monthly rate i with sum(amount / (1 + i)^t) = 0. Raises if the flows have none.

    `guess` starts Newton's method (the plan's own monthly rate is a good one). Flows one
    month apart (instalments) are discounted by one multiplication each, not by a power.
    """
    return monthly_irr_prepared([(float(t), float(amount)) for t, amount in flows], guess)


def monthly_irr_prepared(flows: Sequence[tuple[float, float]], guess: float = 0.01) -> Decimal:
    """`monthly_irr` of flows already converted to (time, amount) floats."""
    prepared = []
    previous = -math.inf
    for t, amount in flows:
        if amount:
            prepared.append(prepared_flow(t, amount, previous))
            previous = t
    return monthly_irr_of(prepared, guess)


def prepared_flow(t: float, amount: float, previous: float) -> tuple[float, float, float, bool]:
    """A non-zero flow with what every Newton iteration needs: t x amount, and whether it
    falls one month after the flow before (then its discount is that one's x 1/(1 + i))."""
    return t, amount, t * amount, -1e-12 < t - previous - 1.0 < 1e-12


def monthly_irr_of(prepared: Sequence[tuple[float, float, float, bool]], guess: float = 0.01) -> Decimal:
    """The monthly IRR of flows made by `prepared_flow`, in time order, zero amounts left out."""
    if not prepared or all(f[1] >= 0 for f in prepared) or all(f[1] <= 0 for f in prepared):
        raise PlanError("cash flows have no internal rate of return")
    rate = float(guess)
    for _ in range(50):
        value = 0.0
        slope = 0.0
        step_back = 1.0 / (1.0 + rate)
        discount = 1.0
        for t, amount, weighted, next_month in prepared:
            discount = discount * step_back if next_month else (1.0 + rate) ** -t
            value += amount * discount
            slope -= weighted * discount
        slope *= step_back
        if slope == 0:
            break
        step = value / slope
        rate -= step
        if rate <= -0.99 or not math.isfinite(rate):
            break
        # Newton's error after a step of s is about s^2 x (a few hundred at most, for these
        # flows): once s < 1e-11 the rate is good to far below the 1e-10 it is rounded to.
        if abs(step) < 1e-11:
            return Decimal(repr(rate)).quantize(Decimal("1e-10"))
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
    return Decimal(repr((low + high) / 2)).quantize(Decimal("1e-10"))


def apr_from_monthly(rate: Decimal) -> tuple[Decimal, Decimal]:
    """(APR, effective annual rate), each rounded to 8 places."""
    places = Decimal("1e-8")
    effective = (1 + rate) ** 12 - 1
    return (rate * 12).quantize(places), effective.quantize(places)
