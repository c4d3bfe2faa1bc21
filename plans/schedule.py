"""Dated schedules, cent-exact.

Interest accrues on the principal balance at the plan's monthly rate (annual / 12) times the
period's length in months (`plans.dates.months_between`), so a regular month is one period
and a broken first period is charged for the time it really lasts. Carried fees (kept
penalties, uncapitalised overdue interest) bear no interest; they are spread over the
instalments in proportion to the payment shape.

A "shaped" schedule pays `scale x weight[k]` in month k: level plans have all weights 1,
step-up plans rising weights, seasonal plans higher weights in high-income months. For given
weights the scale that repays the balance exactly has a closed form, so the engine can find
the shortest affordable term in one pass (see `scales_by_term`). Each payment is rounded to
the minor unit; the residue, a few cents, goes to the last payment, which clears principal,
interest and fees exactly.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from plans.dates import due_dates, months_between
from plans.models import Row
from plans.money import ZERO, quantize

TWELVE = Decimal(12)
ONE = Decimal(1)


@dataclass(frozen=True)
class Basis:
    """What a schedule repays and when: the interest-bearing principal, interest-free fees,
    the plan's annual rate, and the dates (as-of and the monthly due day)."""

    principal: Decimal
    fees: Decimal
    annual_rate: Decimal
    currency: str
    as_of: date
    first_due: date
    due_day: int

    @property
    def monthly_rate(self) -> Decimal:
        return self.annual_rate / TWELVE

    @property
    def first_period(self) -> Decimal:
        return months_between(self.as_of, self.first_due)

    def dates(self, count: int) -> list[date]:
        return due_dates(self.first_due, count, self.due_day)


def scales_by_term(basis: Basis, weights: Sequence[Decimal]) -> list[tuple[Decimal, Decimal]]:
    """For every term n = 1..len(weights): (principal scale, fee scale) such that paying
    (principal scale + fee scale) x weights[k] for k < n repays the basis exactly.

    principal scale = P / sum_k w_k d_k with d_k the discount factor of month k at the plan
    rate; fee scale = F / sum_k w_k. Terms whose leading weights are all zero get None-like
    (0, 0) sentinels and must be skipped by the caller (they cannot repay anything).
    """
    rate = basis.monthly_rate
    factor = ONE / (ONE + rate * basis.first_period)
    step = ONE / (ONE + rate)
    discounted = ZERO
    plain = ZERO
    result: list[tuple[Decimal, Decimal]] = []
    for weight in weights:
        discounted += weight * factor
        plain += weight
        factor *= step
        if plain == 0:
            result.append((ZERO, ZERO))
        else:
            result.append((basis.principal / discounted, basis.fees / plain))
    return result


def shaped_rows(
    basis: Basis,
    weights: Sequence[Decimal],
    scale: Decimal,
    fee_scale: Decimal,
    *,
    rounding: str = ROUND_HALF_UP,
    start_number: int = 1,
    kind: str = "instalment",
) -> list[Row]:
    """The schedule paying about (scale + fee_scale) x weights[k]; the last row clears all.

    Rounding every payment up by a fraction of a cent can, over a long term at a high rate,
    repay everything before the last month (leaving empty months); such a schedule is built
    again with payments rounded down, so the last payment takes the residue instead.
    """
    count = len(weights)
    dates = basis.dates(count)
    rate = basis.monthly_rate
    balance = basis.principal
    fees_left = basis.fees
    rows: list[Row] = []
    period = basis.first_period
    for k, (weight, due) in enumerate(zip(weights, dates)):
        interest = quantize(balance * rate * period, basis.currency)
        period = ONE
        if k == count - 1:
            fee = fees_left
            principal = balance
        else:
            fee = min(fees_left, quantize(fee_scale * weight, basis.currency, rounding))
            principal = quantize(scale * weight, basis.currency, rounding) - interest
            principal = min(principal, balance)
        balance -= principal
        fees_left -= fee
        if balance + fees_left <= 0 and k < count - 1 and rounding != ROUND_FLOOR:
            return shaped_rows(basis, weights, scale, fee_scale, rounding=ROUND_FLOOR,
                               start_number=start_number, kind=kind)
        rows.append(
            Row(
                number=start_number + k,
                due_date=due,
                payment=principal + interest + fee,
                principal=principal,
                interest=interest,
                fees=fee,
                balance=balance + fees_left,
                kind=kind,
            )
        )
    return rows


def equal_principal_rows(basis: Basis, count: int, *, start_number: int = 1) -> list[Row]:
    """等额本金: the same principal each month plus interest on what is left.

    The parts are rounded cumulatively (after k payments exactly round(k x P / n) is repaid),
    so each part is within a cent of P / n and no rounding residue piles up on the last one.
    """
    dates = basis.dates(count)
    currency = basis.currency
    balance, fees_left = basis.principal, basis.fees
    rate, period = basis.monthly_rate, basis.first_period
    repaid = fees_paid = ZERO
    rows = []
    for k, due in enumerate(dates, 1):
        interest = quantize(balance * rate * period, currency)
        period = ONE
        if k == count:
            principal, fee = balance, fees_left
        else:
            principal = quantize(basis.principal * k / count, currency) - repaid
            fee = quantize(basis.fees * k / count, currency) - fees_paid
        repaid += principal
        fees_paid += fee
        balance -= principal
        fees_left -= fee
        rows.append(
            Row(
                number=start_number + k - 1,
                due_date=due,
                payment=principal + interest + fee,
                principal=principal,
                interest=interest,
                fees=fee,
                balance=balance + fees_left,
            )
        )
    return rows


def interest_only_rows(basis: Basis, count: int) -> list[Row]:
    """A payment holiday that keeps the balance still: each payment is that month's interest."""
    rows = []
    period = basis.first_period
    for k, due in enumerate(basis.dates(count)):
        interest = quantize(basis.principal * basis.monthly_rate * period, basis.currency)
        period = ONE
        rows.append(
            Row(
                number=k + 1,
                due_date=due,
                payment=interest,
                principal=ZERO,
                interest=interest,
                fees=ZERO,
                balance=basis.principal + basis.fees,
                kind="interest_only",
            )
        )
    return rows


def single_payment_row(amount: Decimal, due: date, *, kind: str, balance: Decimal) -> Row:
    """A one-off payment of principal (a down payment or a settlement)."""
    return Row(
        number=1, due_date=due, payment=amount, principal=amount, interest=ZERO,
        fees=ZERO, balance=balance, kind=kind,
    )


def level_payment(basis: Basis, count: int) -> Decimal:
    """The rounded level (等额本息) payment of principal and interest over `count` months."""
    scale, fee_scale = scales_by_term(basis, [ONE] * count)[-1]
    return quantize(scale + fee_scale, basis.currency)
