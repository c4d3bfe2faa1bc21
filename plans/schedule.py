"""Dated schedules, cent-exact.

Interest accrues on the principal balance at the plan's monthly rate (annual / 12) times the
period's length in months (`plans.dates.months_between`), so a regular month is one period
and a broken first period is charged for the time it really lasts. Carried fees (kept
penalties, uncapitalised overdue interest) bear no interest; they are spread over the
instalments in proportion to the payment shape.

A "shaped" schedule pays `scale x weight[k]` in month k: level plans have all weights 1,
step-up plans rising weights, seasonal plans higher weights in high-income months. A month of
weight 0 is a pause: no row (nothing to pay is never an instalment), its interest is added to
the principal, and the next instalment charges one period of interest on it. For given
weights the scale that repays the balance exactly has a closed form (`scales_by_term`), so
the engine can find the shortest affordable term in one pass (`plans.structures`, which
works the same sums out lazily). Each payment is rounded to the minor unit (half-up unless
the caller names another mode); the residue, a few cents, goes to the last payment, which
clears principal, interest and fees exactly, or, when rounding up would repay everything
early, ends the schedule there (`shaped_schedule`'s `end_early`).

Equal-principal (等额本金) schedules are built here too, their parts rounded cumulatively.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from plans.dates import due_dates, months_between
from plans.models import Pause, Row, slot_descriptors
from plans.money import ONE, ZERO, minor_unit, quantize, round_to_unit

TWELVE = Decimal(12)


def _row_maker() -> Callable[..., Row]:
    """`Row(...)`, about twice as fast: a frozen dataclass's __init__ assigns each field through
    object.__setattr__; this sets the slots directly. Schedules build thousands of rows."""
    new = object.__new__
    s0, s1, s2, s3, s4, s5, s6, s7 = (slot.__set__ for slot in slot_descriptors(Row).values())

    def make(
        number: int,
        due_date: date,
        payment: Decimal,
        principal: Decimal,
        interest: Decimal,
        fees: Decimal,
        balance: Decimal,
        kind: str = "instalment",
    ) -> Row:
        row = new(Row)
        s0(row, number), s1(row, due_date), s2(row, payment), s3(row, principal)
        s4(row, interest), s5(row, fees), s6(row, balance), s7(row, kind)
        return row

    return make


_row = _row_maker()


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
    #: the first period's length in months when it is not as_of -> first_due (after a
    #: payment holiday with interest frozen it is exactly one period)
    first_period_months: Decimal | None = None

    @property
    def monthly_rate(self) -> Decimal:
        return self.annual_rate / TWELVE

    @property
    def first_period(self) -> Decimal:
        if self.first_period_months is not None:
            return self.first_period_months
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
    return list(iter_scales(basis, weights))


def iter_scales(basis: Basis, weights: Sequence[Decimal]) -> Iterator[tuple[Decimal, Decimal]]:
    """`scales_by_term`, one term at a time, for a search that stops at the first that fits."""
    rate = basis.monthly_rate
    factor = ONE / (ONE + rate * basis.first_period)
    step = ONE / (ONE + rate)
    principal, fees = basis.principal, basis.fees
    discounted = ZERO
    plain = ZERO
    for weight in weights:
        discounted += weight * factor
        plain += weight
        factor *= step
        if plain == 0:
            yield ZERO, ZERO
        else:
            yield principal / discounted, fees / plain


def shaped_schedule(
    basis: Basis,
    weights: Sequence[Decimal],
    scale: Decimal,
    fee_scale: Decimal,
    *,
    rounding: str = ROUND_HALF_UP,
    start_number: int = 1,
    end_early: bool = False,
) -> tuple[list[Row], list[Pause]]:
    """The schedule paying about (scale + fee_scale) x weights[k]; the last row clears all.
    Months of weight 0 are pauses (the last weight must not be 0).

    Rounding every payment up by a fraction of a cent can, over a long term at a high rate,
    repay the principal before the last month (leaving empty or fee-only months). With
    `end_early` (a term searched for, not one the borrower named) the schedule then ends with
    the row that clears everything, if it can; otherwise it is built again with payments
    rounded down, so the last payment takes the residue instead.
    """
    count = len(weights)
    dates = basis.dates(count)
    rate = basis.monthly_rate
    unit = minor_unit(basis.currency)
    balance = basis.principal
    fees_left = basis.fees
    rows: list[Row] = []
    pauses: list[Pause] = []
    append = rows.append
    period = basis.first_period
    last = count - 1
    number = start_number
    # A level plan (all weights equal) asks the same rounded amounts every month; shaped
    # plans repeat a few weights, usually the same objects month after month.
    payment_for: dict[Decimal, Decimal] = {}
    # (`amount` is set by the first paying row: its weight is not None)
    last_weight: Decimal | None = None
    amount = ZERO
    paused: list = []  # the pause running: [first date, last date, months, interest capitalised]
    has_fees = fees_left != 0  # without fees, the fee of every row is the (zero) basis fee
    # Fees are spread in proportion to the weights, rounded cumulatively (after the rows of
    # weights summing to W, round(fees x W / all weights) is paid), so they never run out
    # early; the payment itself is one rounded amount, its principal part what is left.
    fees_total, weight_total, weight_so_far, fees_paid = basis.fees, sum(weights, ZERO), ZERO, ZERO
    for k, (weight, due) in enumerate(zip(weights, dates, strict=True)):
        # After the (possibly broken) first period every period is one month: x 1 is exact.
        interest = round_to_unit(balance * rate * period if k == 0 else balance * rate, unit)
        if not weight:  # a pause: nothing due, the month's interest joins the principal
            balance += interest
            if paused:
                paused[1], paused[2], paused[3] = due, paused[2] + 1, paused[3] + interest
            else:
                paused = [due, due, 1, interest]
            continue
        if paused:
            pauses.append(Pause(paused[0], paused[1], paused[2], "capitalised" if rate else "frozen", paused[3]))
            paused = []
        if k == last:
            fee = fees_left
            principal = balance
            balance -= principal
            fees_left -= fee
        else:
            if weight is not last_weight:
                known = payment_for.get(weight)
                if known is None:
                    known = payment_for[weight] = round_to_unit((scale + fee_scale) * weight, unit, rounding)
                amount = known
                last_weight = weight
            if has_fees:
                weight_so_far += weight
                target = round_to_unit(fees_total * weight_so_far / weight_total, unit)
                fee = target - fees_paid
                if fee > fees_left:
                    fee = fees_left
                fees_paid += fee
                fees_left -= fee
            else:
                fee = fees_left
            principal = amount - fee - interest
            if principal >= balance:  # this row repays all the principal left
                # Repaid before the last month: the months after would ask for nothing, or for
                # carried fees alone (a fee part may round to nothing: 1 yen over 370 months).
                # Built again with payments rounded down, unless even that repays early: a
                # schedule that is nearly all interest (36% over 30 years) amplifies every
                # cent of rounding a thousandfold, so no level amount in cents ends on the
                # named month; then, as for a searched term, this row clears everything.
                if (end_early and balance + interest + fee + fees_left <= amount) or rounding == ROUND_FLOOR:
                    fee += fees_left
                    append(_row(number, due, balance + interest + fee, balance, interest, fee, ZERO))
                    return rows, pauses
                return shaped_schedule(
                    basis, weights, scale, fee_scale, rounding=ROUND_FLOOR, start_number=start_number
                )
            else:
                balance -= principal
                # principal + interest + fee is exactly the rounded amount (all in the minor unit)
                append(_row(number, due, amount, principal, interest, fee, balance + fees_left))
                number += 1
                continue
        append(_row(number, due, principal + interest + fee, principal, interest, fee, balance + fees_left))
        number += 1
    return rows, pauses


def equal_principal_rows(basis: Basis, count: int, *, start_number: int = 1) -> list[Row]:
    """等额本金: the same principal each month plus interest on what is left.

    The parts are rounded cumulatively (after k payments exactly round(k x P / n) is repaid),
    so each part is within a cent of P / n and no rounding residue piles up on the last one.
    """
    unit = minor_unit(basis.currency)
    principal_total, fees_total = basis.principal, basis.fees
    balance, fees_left = principal_total, fees_total
    rate, period = basis.monthly_rate, basis.first_period
    repaid = fees_paid = ZERO
    rows = []
    # Without fees every fee part is round(0) less nothing paid: zero in the minor unit.
    no_fee = None if fees_total else round_to_unit(ZERO, unit)
    for k, due in enumerate(basis.dates(count), 1):
        # After the (possibly broken) first period every period is one month: x 1 is exact.
        interest = round_to_unit(balance * rate * period if k == 1 else balance * rate, unit)
        if k == count:
            principal, fee = balance, fees_left
        else:
            # (what has been repaid is the previous rounded cumulative part, exactly)
            part = round_to_unit(principal_total * k / count, unit)
            principal, repaid = part - repaid, part
            if no_fee is None:
                part = round_to_unit(fees_total * k / count, unit)
                fee, fees_paid = part - fees_paid, part
            else:
                fee = no_fee
        balance -= principal
        fees_left -= fee
        rows.append(
            _row(start_number + k - 1, due, principal + interest + fee, principal, interest, fee, balance + fees_left)
        )
    return rows


def equal_principal_payments(basis: Basis, count: int) -> Iterator[Decimal]:
    """The payments of `equal_principal_rows(basis, count)` (equal in value), lazily and
    without building rows: a term search stops at the first payment that does not fit."""
    unit = minor_unit(basis.currency)
    principal_total, fees_total = basis.principal, basis.fees
    balance = principal_total
    rate, period = basis.monthly_rate, basis.first_period
    repaid = fees_paid = ZERO
    for k in range(1, count):
        interest = round_to_unit(balance * rate * period if k == 1 else balance * rate, unit)
        part = round_to_unit(principal_total * k / count, unit)
        principal, repaid = part - repaid, part
        balance -= principal
        if fees_total:
            part = round_to_unit(fees_total * k / count, unit)
            fee, fees_paid = part - fees_paid, part
            yield principal + interest + fee
        else:
            yield principal + interest
    interest = round_to_unit(balance * rate * period if count == 1 else balance * rate, unit)
    yield balance + interest + fees_total - fees_paid


def single_payment_row(amount: Decimal, due: date, *, kind: str, balance: Decimal, fees: Decimal = ZERO) -> Row:
    """A one-off payment (a down payment or a settlement): `fees` of it pays carried fees,
    the rest principal."""
    return Row(
        number=1,
        due_date=due,
        payment=amount,
        principal=amount - fees,
        interest=ZERO,
        fees=fees,
        balance=balance,
        kind=kind,
    )


def level_payment(basis: Basis, count: int) -> Decimal:
    """The rounded level (等额本息) payment of principal and interest over `count` months."""
    scale, fee_scale = scales_by_term(basis, [ONE] * count)[-1]
    return quantize(scale + fee_scale, basis.currency)
