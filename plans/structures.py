"""One builder per restructuring structure. Each returns an `Option`, or None where the
structure does not apply to this borrower (no seasonal income, no expected change...).

Shaped structures pay `scale x weight[k]` in the k-th month of the calendar the plan may use
(`Context.grid`: from the first due date to the last date the policy's term allows; see
`plans.schedule`). They take the shortest term whose every calendar month fits the budget by
the one rule of `plans.budget` (what falls due in the month, less savings used once for the
earliest payments, fits that month's available amount) while staying at or above the
policy's minimum instalment; when no term fits, the longest term the minimum instalment
allows is returned as the closest option (marked unaffordable). A schedule whose rounding
residue tips a month over is rounded another way (half-up, up, then down: `ROUNDINGS`);
only when no rounding of the term fits is the next term taken.

- level            等额本息, all weights 1.
- equal_principal  等额本金, the same principal each month plus interest.
- interest_freeze  0% interest, penalties waived as policy allows, a down payment, then
                   level; when the down payment falls in the first instalment's month, that
                   instalment is smaller (or none), so the month still fits.
- step_up          the amount affordable now until the month the income has recovered, then
                   the higher amount affordable after it (at most the policy's step ratio).
- step_down        higher now, lower from the month the income falls.
- seasonal         follows the income's shape: higher payments in the borrower's high-income
                   calendar months (at most the policy's seasonal ratio), nothing in a low
                   season whose budget is below the minimum instalment.
- holiday          nothing to pay for up to the policy's holiday months (until the income
                   is expected back), interest frozen or capitalised as the policy says, then
                   level; the first instalment charges one period of interest.
- settlement       one lump sum from savings with a policy-capped discount; the rest waived.
- custom           the borrower names a monthly amount or a number of months.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_HALF_UP, ROUND_UP, Decimal
from itertools import accumulate, pairwise
from typing import NamedTuple

from plans.budget import month_by_month
from plans.context import Context
from plans.dates import month_number
from plans.errors import NoPlanPossible
from plans.evaluate import evaluate
from plans.models import MonthFit, Option, Outlook, Pause, Reason, Row, Structure
from plans.money import ONE, RATIO_PLACES, ZERO, minor_unit, quantize, round_places
from plans.restructure import Debt
from plans.schedule import (
    Basis,
    equal_principal_payments,
    equal_principal_rows,
    shaped_schedule,
    single_payment_row,
)

HALF = Decimal("0.5")
#: a ratio moved toward 1 while a plan is searched for is kept to 12 places
SEARCH_RATIO_PLACES = 12
INFINITY = Decimal("Infinity")
#: the roundings tried in turn, at the same term, until the rounded schedule fits
ROUNDINGS = (ROUND_HALF_UP, ROUND_UP, ROUND_FLOOR)


class _LazyScales:
    """For every term n, `scales[n - 1]`: (principal scale, fee scale) such that paying
    (principal scale + fee scale) x weights[k] for k < n repays the basis exactly
    (`plans.schedule.iter_scales`), computed only as far as the term search looks (it usually
    stops well before the end)."""

    def __init__(self, basis: Basis, weights: Sequence[Decimal]) -> None:
        rate = basis.monthly_rate
        self._factor = ONE / (ONE + rate * basis.first_period)
        self._step = ONE / (ONE + rate)
        self._principal, self._fees = basis.principal, basis.fees
        self._discounted = self._plain = ZERO
        self._weights = weights
        self._known: list[tuple[Decimal, Decimal]] = []
        self._cumulative: list[Decimal] = []  # sum of weights[0..k]

    def _extend(self) -> tuple[Decimal, Decimal]:
        weight = self._weights[len(self._known)]
        self._discounted += weight * self._factor
        self._plain += weight
        self._factor *= self._step
        item = (ZERO, ZERO) if self._plain == 0 else (self._principal / self._discounted, self._fees / self._plain)
        self._known.append(item)
        self._cumulative.append(self._plain)
        return item

    def __getitem__(self, index: int) -> tuple[Decimal, Decimal]:
        if index < 0:
            raise TypeError("lazy scales take a term index (from 0)")
        known = self._known
        while len(known) <= index:
            self._extend()
        return known[index]

    def shortest_term(
        self, rooms: Sequence[Decimal], min_installment: Decimal, savings: Decimal = ZERO, extra: Decimal = ZERO
    ) -> tuple[int, bool]:
        """(term, fits): the shortest term n (ending on a paying month) for which every month
        fits, before rounding: month k asks c x weights[k] (c = the term's scales summed), the
        first month also `extra` (a down payment in it); `savings` pay the earliest months
        first. Else (the longest term whose payments, all but the last, stay at the minimum
        instalment, False). One pass: c falls as n grows, so the months savings cover only
        grow (a pointer), and the tightest of the other months is a sliding minimum."""
        weights, known, cumulative = self._weights, self._known, self._cumulative
        if known:
            raise RuntimeError("the term search runs first")
        principal, fees, step = self._principal, self._fees, self._step
        discounted, plain, factor = self._discounted, self._plain, self._factor
        window: deque[tuple[int, Decimal]] = deque()  # (month, room / weight), rising
        covered = 0  # months 0..covered-1 are paid by savings alone
        smallest_weight_before_last = INFINITY
        previous_weight = None
        longest = 0
        result = None
        for n, (weight, room) in enumerate(zip(weights, rooms, strict=False), 1):  # (weights <= rooms)
            discounted += weight * factor
            plain += weight
            factor *= step
            if plain == 0:
                scale = fee_scale = ZERO
            else:
                # (without fees the fee scale is zero either way: only ever multiplied and added)
                scale, fee_scale = principal / discounted, (fees / plain if fees else fees)
            known.append((scale, fee_scale))
            cumulative.append(plain)
            if not weight:
                continue  # a pause: no term ends here
            c = scale + fee_scale
            if previous_weight is not None:
                if previous_weight < smallest_weight_before_last:
                    smallest_weight_before_last = previous_weight
                if (c if smallest_weight_before_last is ONE else c * smallest_weight_before_last) < min_installment:
                    break
            share = room if weight is ONE or weight == ONE else room / weight
            while window and window[-1][1] >= share:
                window.pop()
            window.append((n - 1, share))
            longest = n
            previous_weight = weight
            while covered < n and extra + c * cumulative[covered] <= savings:
                covered += 1
            if covered >= n:
                result = n, True
                break
            while window and window[0][0] <= covered:
                window.popleft()
            if extra + c * cumulative[covered] - savings <= rooms[covered] and (not window or c <= window[0][1]):
                result = n, True
                break
        self._discounted, self._plain, self._factor = discounted, plain, factor
        return result or (max(longest, 1), False)


class _Attempt(NamedTuple):
    """One rounding of a shaped plan's term: its rows and pauses, the whole schedule (the
    rows before it too) and how it fits the budget (`month_by_month`)."""

    rows: list[Row]
    pauses: list[Pause]
    schedule: list[Row]
    fit: tuple[MonthFit, Decimal | None]


def _shaped(
    ctx: Context,
    structure: Structure,
    debt: Debt,
    weights: Sequence[Decimal],
    parameters: dict[str, str],
    reasons: list[Reason],
    *,
    basis: Basis | None = None,
    offset: int = 0,
    before: Sequence[Row] = (),
    pauses: Sequence[Pause] = (),
    roundings: Sequence[str] = ROUNDINGS,
    accept: Callable[[list[Row]], bool] | None = None,
) -> Option | None:
    """Search the term, build the rows after any `before` rows (a down payment) and evaluate
    the option. The plan's months are `ctx.grid[offset:]` (after a holiday with interest
    frozen, `basis` starts the interest one period before the first of them). The roundings
    are tried in turn for one whose schedule fits (when the exact amounts do) and that
    `accept` takes (a ratio kept with the residue)."""
    basis = basis or ctx.basis(debt)
    rooms = ctx.rooms[offset:]
    weights = weights[: len(rooms)]
    if not weights or not any(weights):
        return None
    savings, extra, before_fits = ctx.savings, ZERO, True
    first_month = month_number(ctx.grid[offset])
    for row in before:
        if month_number(row.due_date) == first_month:
            extra += row.payment
        else:
            used = min(savings, row.payment)
            savings -= used
            before_fits &= row.payment - used <= ctx.budget.available(month_number(row.due_date))
    scales = _LazyScales(basis, weights)
    rules = ctx.rules
    term, fits = scales.shortest_term(rooms, rules.min_installment, savings, extra)
    if fits and not before_fits:
        # The rows before do not fit whatever the term: the closest option is the longest.
        term, fits = _LazyScales(basis, weights).shortest_term([ZERO] * len(rooms), rules.min_installment)
    while True:
        scale, fee_scale = scales[term - 1]
        first = fitting = chosen = None
        for rounding in roundings:
            rows, built_pauses = shaped_schedule(
                basis, weights[:term], scale, fee_scale, rounding=rounding, start_number=len(before) + 1, end_early=True
            )
            schedule = list(before) + rows
            attempt = _Attempt(rows, built_pauses, schedule, month_by_month(schedule, ctx.savings, ctx.budget))
            first = first or attempt
            if not fits or attempt.fit[0].gap <= 0:
                fitting = fitting or attempt
                if accept is None or accept(rows):
                    chosen = attempt
                    break
        if chosen is None and fitting is None and fits:
            # No rounding of this term fits (the exact amounts fit within a minor unit): the
            # next term that ends on a paying month.
            following = next((n for n in range(term + 1, len(weights) + 1) if weights[n - 1]), None)
            if following is not None:
                term = following
                continue
        result = chosen or fitting or first
        if result is None:
            raise ValueError("no rounding to try")
        break
    return evaluate(
        ctx,
        structure,
        {**parameters, "months": str(len(result.rows))},
        debt,
        result.schedule,
        reasons,
        pauses=list(pauses) + result.pauses,
        fit=result.fit,
    )


def level(ctx: Context) -> Option | None:
    debt = ctx.debt(Structure.level)
    return _shaped(ctx, Structure.level, debt, [ONE] * ctx.longest, {}, [])


def equal_principal(ctx: Context) -> Option | None:
    """Binary search over the term: payments fall as the term grows, so fitting is monotone
    while the budget does not fall later on (the search assumes it)."""
    if not ctx.longest:
        return None
    debt = ctx.debt(Structure.equal_principal)
    basis = ctx.basis(debt)
    owed = debt.principal + debt.fees
    longest = max(1, min(ctx.longest, int(owed / max(ctx.rules.min_installment, ONE))))

    rooms, savings = ctx.rooms, ctx.savings
    lowest_room = list(accumulate(rooms, min))  # lowest_room[n - 1]: the tightest of n months
    # No payment exceeds P/n + F/n + the interest on all of P for the longest period + 2.5
    # minor units (each rounded part is within a unit of P/n or F/n, interest within half).
    margin = debt.principal * basis.monthly_rate * max(basis.first_period, ONE) + minor_unit(ctx.currency) * HALF * 5

    def fits(term: int) -> bool:
        """What evaluate would say: every month fits (one payment a month, savings first).
        Sure without looking at the payments when even the bound fits the tightest month;
        else payment by payment, stopping at the first that does not fit."""
        if owed / term + margin <= lowest_room[term - 1]:
            return True
        left = savings
        for payment, room in zip(equal_principal_payments(basis, term), rooms, strict=False):  # term <= rooms
            used = payment if payment <= left else left
            left -= used
            if payment - used > room:
                return False
        return True

    low, high = 1, longest
    if fits(high):
        while low < high:
            middle = (low + high) // 2
            if fits(middle):
                high = middle
            else:
                low = middle + 1
    rows = equal_principal_rows(basis, high)
    return evaluate(ctx, Structure.equal_principal, {"months": str(high)}, debt, rows, [])


def interest_freeze(ctx: Context) -> Option | None:
    if not ctx.longest:
        return None
    debt = ctx.debt(Structure.interest_freeze)
    weights: list[Decimal] = [ONE] * ctx.longest
    before = []
    if debt.down_payment > 0:
        before = [
            single_payment_row(
                debt.down_payment,
                ctx.down_payment_date,
                kind="down_payment",
                balance=debt.principal + debt.fees,
                fees=debt.down_payment_fees,
            )
        ]
        if month_number(ctx.down_payment_date) == month_number(ctx.first_due) and len(weights) > 1:
            weights[0] = _first_month_weight(ctx, debt.down_payment)
    if debt.principal + debt.fees == 0:
        return None
    reasons = [Reason("down_payment", {"amount": str(debt.down_payment)})] if before else []
    parameters = {"down_payment": str(debt.down_payment)}

    def build() -> Option | None:  # (with the weights as they are then)
        return _shaped(ctx, Structure.interest_freeze, debt, weights, parameters, reasons, before=before)

    option = build()
    if (
        option is not None
        and weights[0] is not ONE
        and weights[0]
        and len(option.instalments) > 1
        and option.instalments[0].payment < ctx.rules.min_installment
    ):
        # The smaller first instalment would be below the minimum: none in that month instead.
        weights[0] = ZERO
        option = build()
    return option


def _first_month_weight(ctx: Context, down_payment: Decimal) -> Decimal:
    """The first instalment's weight when the down payment shares its month: what that month
    has left after the down payment (savings first), as a share of the month after's room."""
    rooms = ctx.rooms
    left = rooms[0] + ctx.savings - down_payment
    if left >= rooms[1] or rooms[1] <= 0:
        return ONE
    return max(ZERO, left) / rooms[1]


def _changed_income_ratio(ctx: Context) -> tuple[int, Decimal] | None:
    """(grid months before the income changes, later available / now available), if the
    borrower told us their income will change and both amounts leave something to pay."""
    later = ctx.budget.later
    step_at = ctx.change_index
    if later is None or step_at is None:
        return None
    now = ctx.budget.now.available
    if now <= 0 or later.available <= 0:
        return None
    return step_at, later.available / now


def _ratio_within(limit: Decimal, rising: bool = False) -> Callable[[list[Row]], bool]:
    """Whether the largest payment is at most `limit` times the smallest (and, `rising`,
    no payment but the last is below the one before)."""

    def accept(rows: list[Row]) -> bool:
        payments = [row.payment for row in rows]
        if rising and any(a > b for a, b in pairwise(payments[:-1])):
            return False
        return max(payments) <= min(payments) * limit

    return accept


def _within_ratio(limit: Decimal, build: Callable[[Decimal], Option | None], ratio: Decimal) -> Option | None:
    """`build(ratio)`, its payments kept within `limit` (largest / smallest) including the
    rounding residue: a rounding that keeps it is chosen (`_shaped`'s `accept`); if none
    does, the ratio is moved toward 1 by what it overshot and the plan built again. None if
    the limit cannot be kept (a limit so close to 1 that the residue alone breaks it)."""
    rising = ratio > ONE
    for _ in range(4):
        option = build(ratio)
        if option is None:
            return None
        payments = [row.payment for row in option.instalments]
        observed = max(payments) / min(payments)
        if observed <= limit:
            return option
        overshoot = observed / limit
        ratio = ratio / overshoot if rising else ratio * overshoot
        ratio = round_places(ratio, SEARCH_RATIO_PLACES, ROUND_FLOOR if rising else ROUND_UP)
        if (ratio > ONE) != rising or ratio == ONE:
            return None  # no step is left to take
    return None


def _stated_ratio(ratio: Decimal) -> Decimal:
    """A plan's ratio as its parameters state it: to `RATIO_PLACES` (4), half-even."""
    return round_places(ratio, RATIO_PLACES, ROUND_HALF_EVEN)


def _step(
    ctx: Context,
    structure: Structure,
    step_at: int,
    ratio: Decimal,
    reason: Reason,
    roundings: Sequence[str],
    rising: bool,
) -> Option | None:
    """A two-level plan (ratio from month `step_at`) within the policy's step ratio."""
    debt = ctx.debt(structure)

    def build(ratio: Decimal) -> Option | None:
        weights = [ONE] * step_at + [ratio] * (ctx.longest - step_at)
        return _shaped(
            ctx,
            structure,
            debt,
            weights,
            {"step_after_months": str(step_at), "step_ratio": str(_stated_ratio(ratio))},
            [reason],
            roundings=roundings,
            accept=_ratio_within(ctx.rules.step_max_ratio, rising),
        )

    return _within_ratio(ctx.rules.step_max_ratio, build, ratio)


def step_up(ctx: Context) -> Option | None:
    change = _changed_income_ratio(ctx)
    if change is None or change[1] <= ONE:
        return None
    step_at, ratio = change
    ratio = min(ratio, ctx.rules.step_max_ratio)
    if ratio <= ONE:
        return None  # the policy allows no step
    reason = Reason("rises_with_recovery", {"months": str(step_at)})
    # Rounding down keeps every payment at or below the next (the last takes the cents);
    # rounding up, tried next, leaves the last a few cents lower instead.
    return _step(ctx, Structure.step_up, step_at, ratio, reason, (ROUND_FLOOR, ROUND_UP), True)


def step_down(ctx: Context) -> Option | None:
    change = _changed_income_ratio(ctx)
    if change is None or change[1] >= ONE:
        return None
    step_at, ratio = change
    ratio = max(ratio, ONE / ctx.rules.step_max_ratio)
    if ratio >= ONE:
        return None  # the policy allows no step
    reason = Reason("falls_with_income", {"months": str(step_at)})
    return _step(ctx, Structure.step_down, step_at, ratio, reason, ROUNDINGS, False)


def seasonal(ctx: Context) -> Option | None:
    """The income's shape: weight 1 in the low season and the high/low ratio of the amounts
    available (at most the policy's seasonal ratio) in the high months; when the low season
    leaves less than the minimum instalment, it pays nothing (weight 0: a pause)."""
    high = ctx.case.finances.high_income_months
    budget = ctx.budget
    high_season = budget.high_season
    if high is None or high_season is None:
        return None
    low_room, high_room = budget.now.available, high_season.available
    if high_room <= low_room:
        return None
    rules = ctx.rules
    if low_room < max(rules.min_installment, minor_unit(ctx.currency)):
        low_weight, high_weight = ZERO, ONE
    else:
        low_weight, high_weight = ONE, min(high_room / low_room, rules.seasonal_max_ratio)
        if high_weight <= ONE:
            return None  # the policy allows no higher payments in the high season
    high_months = [day.month in high.months for day in ctx.grid]
    if not any(high_months):
        return None
    months = ",".join(str(m) for m in sorted(high.months))
    debt = ctx.debt(Structure.seasonal)

    def build(ratio: Decimal) -> Option | None:
        weights = [ratio if in_high else low_weight for in_high in high_months]
        return _shaped(
            ctx,
            Structure.seasonal,
            debt,
            weights,
            {"high_months": months, "high_ratio": str(_stated_ratio(ratio)) if low_weight else "-"},
            [Reason("follows_seasonal_income", {"months": months})],
            accept=_ratio_within(rules.seasonal_max_ratio) if low_weight else None,
        )

    if not low_weight:
        return build(high_weight)
    return _within_ratio(rules.seasonal_max_ratio, build, high_weight)


def holiday(ctx: Context) -> Option | None:
    """Nothing to pay while the income is away (up to the policy's holiday months), then
    level payments. Interest frozen: the first instalment charges one period, as if the
    plan began a month before it. Capitalised: each paused month's interest is added to the
    principal (a pause of the shaped schedule), and the first instalment charges one period."""
    finances, rules = ctx.case.finances, ctx.rules
    if finances.outlook is Outlook.lasting or rules.holiday_max_months <= 0:
        return None
    later = finances.income_later
    if later is not None and later > finances.monthly_income:
        wanted = ctx.change_index or 0
    elif finances.outlook is Outlook.temporary:
        wanted = 3
    else:
        return None
    months = min(rules.holiday_max_months, wanted, ctx.longest - 1)
    if months <= 0:
        return None
    debt = ctx.debt(Structure.holiday)
    grid = ctx.grid
    parameters = {"holiday_months": str(months), "first_payment": grid[months].isoformat()}
    reasons = [Reason("payment_holiday", {"months": str(months)})]
    if rules.holiday_interest == "freeze" or debt.rate == 0:
        after = ctx.basis(debt, as_of=grid[months - 1], first_due=grid[months], first_period=ONE)
        pause = Pause(grid[0], grid[months - 1], months, "frozen", quantize(ZERO, ctx.currency))
        return _shaped(
            ctx,
            Structure.holiday,
            debt,
            [ONE] * (ctx.longest - months),
            parameters,
            reasons,
            basis=after,
            offset=months,
            pauses=[pause],
        )
    weights = [ZERO] * months + [ONE] * (ctx.longest - months)
    return _shaped(ctx, Structure.holiday, debt, weights, parameters, reasons)


def settlement(ctx: Context) -> Option | None:
    loan, rules = ctx.case.loan, ctx.rules
    owed = loan.total_owed
    amount = max(
        quantize(owed * (ONE - rules.settlement_max_discount), loan.currency),
        quantize(owed * rules.settlement_min_share, loan.currency),
    )
    if ctx.savings < amount or amount >= owed:
        return None
    discount = owed - amount
    penalties = min(discount, loan.penalty_fees)
    interest = min(discount - penalties, loan.overdue_interest)
    principal = discount - penalties - interest
    if principal > loan.principal:  # fees carried from an earlier plan are never waived
        return None
    kept_interest = loan.overdue_interest - interest
    debt = Debt(
        loan.principal - principal,
        kept_interest + loan.penalty_fees - penalties + loan.carried_fees,
        ZERO,
        ZERO,
        ZERO,
        penalties,
        penalties_kept=loan.penalty_fees - penalties,
        overdue_interest_carried=kept_interest,
        earlier_fees=loan.carried_fees,
    )
    row = Row(1, ctx.down_payment_date, amount, debt.principal, ZERO, debt.fees, ZERO, "settlement")
    reason = Reason("settles_now", {"discount": str(discount)})
    return evaluate(
        ctx,
        Structure.settlement,
        {"discount": str(discount)},
        debt,
        [row],
        [reason],
        principal_waived=principal,
        interest_waived=interest,
    )


BUILDERS: dict[Structure, Callable[[Context], Option | None]] = {
    Structure.level: level,
    Structure.equal_principal: equal_principal,
    Structure.interest_freeze: interest_freeze,
    Structure.step_up: step_up,
    Structure.step_down: step_down,
    Structure.seasonal: seasonal,
    Structure.holiday: holiday,
    Structure.settlement: settlement,
}


def custom(ctx: Context, *, monthly_amount: Decimal | None = None, months: int | None = None) -> Option:
    """The borrower's own plan: the shortest term at or under their amount, or the level
    amount for their number of months, within the policy's span. Raises NoPlanPossible with a
    message key. Compliance is checked by `plans.engine.custom_quote`; an amount above the
    budget gives an option marked unaffordable, with the reason `over_budget`."""
    rules = ctx.rules
    longest = ctx.longest
    if not longest:
        raise NoPlanPossible("no payment date within the policy's term", key="custom_months_out_of_range", maximum=0)
    debt = ctx.debt(Structure.custom)
    basis = ctx.basis(debt)
    weights = [ONE] * longest
    scales = _LazyScales(basis, weights)
    if months is not None:
        if not 1 <= months <= longest:
            raise NoPlanPossible("term out of range", key="custom_months_out_of_range", maximum=longest)
        term = months
    else:
        if monthly_amount is None or monthly_amount <= 0:
            raise NoPlanPossible("amount must be positive", key="custom_amount_invalid")
        owed = debt.principal + debt.fees
        if monthly_amount < rules.min_installment and monthly_amount < owed:
            raise NoPlanPossible(
                "below the minimum instalment", key="custom_below_minimum", minimum=rules.min_installment
            )
        shortest = next((n for n in range(1, longest + 1) if sum(scales[n - 1], ZERO) <= monthly_amount), None)
        if shortest is None:
            lowest = quantize(sum(scales[longest - 1], ZERO), ctx.currency, ROUND_UP)
            raise NoPlanPossible(
                "amount too low for the longest term", key="custom_amount_too_low", minimum=lowest, months=longest
            )
        term = shortest
    scale, fee_scale = scales[term - 1]
    rows, _ = shaped_schedule(basis, weights[:term], scale, fee_scale)
    asked = {"monthly_amount": str(monthly_amount)} if monthly_amount is not None else {}
    option = evaluate(ctx, Structure.custom, {**asked, "months": str(term)}, debt, rows, [Reason("your_amount")])
    if option.affordable:
        return option
    tightest = option.tightest
    over = Reason(
        "over_budget", {"available": str(tightest.available), "asked": str(tightest.to_pay), "month": tightest.month}
    )
    return replace(option, reasons=[*option.reasons, over])
