"""One builder per restructuring structure. Each returns an `Option`, or None where the
structure does not apply to this borrower (no seasonal income, no expected change...).

Shaped structures pay `scale x weight[k]` in month k (see `plans.schedule`) and take the
shortest term whose every payment fits the month's affordable amount while staying at or
above the policy's minimum instalment; when no term fits, the longest term the minimum
instalment allows is returned as the closest option (marked unaffordable).

- level            等额本息, all weights 1.
- equal_principal  等额本金, the same principal each month plus interest.
- interest_freeze  停息挂账: 0%, penalties waived as policy allows, a down payment, then level.
- step_up          the amount affordable now until the expected recovery, then the higher
                   amount affordable after it (capped at the policy's step ratio).
- step_down        higher now, lower after an expected fall in income.
- seasonal         higher payments in the borrower's high-income calendar months.
- holiday          interest only for up to the policy's holiday months, then level.
- settlement       one lump sum from savings with a policy-capped discount; the rest waived.
- custom           the borrower names a monthly amount or a number of months.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import accumulate
from decimal import ROUND_FLOOR, ROUND_HALF_UP, ROUND_UP, Decimal

from plans.context import Context
from plans.errors import NoPlanPossible
from plans.evaluate import evaluate
from plans.models import Option, Outlook, Reason, Row, Structure
from plans.money import ZERO, minor_unit, quantize
from plans.restructure import Debt
from plans.schedule import (
    Basis,
    equal_principal_payments,
    equal_principal_rows,
    interest_only_rows,
    scales_by_term,
    shaped_rows,
    single_payment_row,
)

ONE = Decimal(1)
HALF = Decimal("0.5")
INFINITY = Decimal("Infinity")


def shortest_term(
    scales: Sequence[tuple[Decimal, Decimal]],
    weights: Sequence[Decimal],
    affordable: Sequence[Decimal],
    min_installment: Decimal,
) -> tuple[int, bool]:
    """(term, fits): the shortest term whose payments all fit, else the longest term whose
    payments (all but the last, which clears the rest) stay at the minimum instalment."""
    room = INFINITY
    smallest_weight_before_last = INFINITY
    longest = 1
    previous_weight = None
    for n, ((scale, fee_scale), weight, limit) in enumerate(zip(scales, weights, affordable), 1):
        payment_scale = scale + fee_scale
        if n > 1:
            if previous_weight < smallest_weight_before_last:
                smallest_weight_before_last = previous_weight
            if payment_scale * smallest_weight_before_last < min_installment:
                break
        share = limit if weight == ONE else limit / weight
        if share < room:
            room = share
        longest = n
        if payment_scale <= room:
            return n, True
        previous_weight = weight
    return longest, False


def _shaped(
    ctx: Context,
    structure: Structure,
    debt: Debt,
    weights: Sequence[Decimal],
    parameters: dict[str, str],
    reasons: list[Reason],
    *,
    basis: Basis | None = None,
    before: Sequence[Row] = (),
    rounding: str = ROUND_HALF_UP,
) -> Option:
    """Search the term, build the rows after any `before` rows, and evaluate the option."""
    basis = basis or ctx.basis(debt)
    offset = sum(1 for row in before if row.kind != "down_payment")
    weights = weights[: ctx.rules.max_term_months - offset]
    scales = _LazyScales(basis, weights)
    term, fits = scales.shortest_term(ctx.affordable[offset:], ctx.rules.min_installment)
    if fits and not _fits(ctx, before):
        # The rows before (a down payment, a holiday) do not fit whatever the term: the
        # option cannot be affordable, and the closest one is the longest term.
        term = len(weights)
    while True:
        scale, fee_scale = scales[term - 1]
        rows = shaped_rows(
            basis, weights[:term], scale, fee_scale, rounding=rounding, start_number=len(before) + 1
        )
        # Rounding can tip a just-fitting term over by a cent: then one month longer.
        if not fits or term >= len(weights) or _fits(ctx, rows, offset):
            break
        term += 1
    return evaluate(ctx, structure, {**parameters, "months": str(term)}, debt, list(before) + rows, reasons)


class _LazyScales(Sequence[tuple[Decimal, Decimal]]):
    """`scales_by_term` computed only as far as the term search looks (it usually stops
    well before the longest term). Same arithmetic as `plans.schedule.iter_scales`."""

    def __init__(self, basis: Basis, weights: Sequence[Decimal]) -> None:
        rate = basis.monthly_rate
        self._factor = ONE / (ONE + rate * basis.first_period)
        self._step = ONE / (ONE + rate)
        self._principal, self._fees = basis.principal, basis.fees
        self._discounted = self._plain = ZERO
        self._weights = weights
        self._known: list[tuple[Decimal, Decimal]] = []

    def __len__(self) -> int:
        return len(self._weights)

    def _extend(self) -> tuple[Decimal, Decimal]:
        weight = self._weights[len(self._known)]
        self._discounted += weight * self._factor
        self._plain += weight
        self._factor *= self._step
        item = (ZERO, ZERO) if self._plain == 0 else (self._principal / self._discounted, self._fees / self._plain)
        self._known.append(item)
        return item

    def __getitem__(self, index):  # type: ignore[override]
        if isinstance(index, slice) or index < 0:
            raise TypeError("lazy scales take a term index")
        known = self._known
        while len(known) <= index:
            self._extend()
        return known[index]

    def __iter__(self):
        for index in range(len(self._weights)):
            yield self._known[index] if index < len(self._known) else self._extend()

    def shortest_term(self, affordable: Sequence[Decimal], min_installment: Decimal) -> tuple[int, bool]:
        """`shortest_term(self, weights, affordable, min_installment)`, computing the scales
        as it goes (the same arithmetic, inline: this is the engine's hottest loop)."""
        if self._known:
            return shortest_term(self, self._weights, affordable, min_installment)
        weights, known = self._weights, self._known
        principal, fees, step = self._principal, self._fees, self._step
        discounted, plain, factor = self._discounted, self._plain, self._factor
        room = INFINITY
        smallest_weight_before_last = INFINITY
        longest = 1
        previous_weight = None
        result = None
        for n, (weight, limit) in enumerate(zip(weights, affordable), 1):
            discounted += weight * factor
            plain += weight
            factor *= step
            if plain == 0:
                scale = fee_scale = ZERO
            else:
                # (without fees the fee scale is zero either way: only ever multiplied and added)
                scale, fee_scale = principal / discounted, (fees / plain if fees else fees)
            known.append((scale, fee_scale))
            payment_scale = scale + fee_scale
            if n > 1:
                if previous_weight < smallest_weight_before_last:
                    smallest_weight_before_last = previous_weight
                if (payment_scale if smallest_weight_before_last is ONE
                        else payment_scale * smallest_weight_before_last) < min_installment:
                    break
            share = limit if weight is ONE or weight == ONE else limit / weight
            if share < room:
                room = share
            longest = n
            if payment_scale <= room:
                result = n, True
                break
            previous_weight = weight
        self._discounted, self._plain, self._factor = discounted, plain, factor
        return result or (longest, False)


def _fits(ctx: Context, rows: Sequence[Row], offset: int = 0) -> bool:
    """Whether every row fits, as `evaluate` judges it, without building an Option: a down
    payment fits savings plus the first month's affordable amount; the other rows are paid
    in plan months offset, offset + 1, ... and must fit that month's affordable amount."""
    affordable = ctx.affordable
    known = len(affordable)
    index = offset
    for row in rows:
        if row.kind == "down_payment":
            room = ctx.case.finances.savings_available + affordable[0]
        else:
            room = affordable[index] if index < known else ctx.budget.affordable(index, row.due_date.month)
            index += 1
        if row.payment > room:
            return False
    return True


def level(ctx: Context) -> Option:
    debt = ctx.debt(Structure.level)
    return _shaped(ctx, Structure.level, debt, [ONE] * ctx.rules.max_term_months, {}, [])


def equal_principal(ctx: Context) -> Option:
    """Binary search over the term: payments fall as the term grows, so fitting is monotone."""
    debt = ctx.debt(Structure.equal_principal)
    basis = ctx.basis(debt)
    owed = debt.principal + debt.fees
    longest = max(1, min(ctx.rules.max_term_months, int(owed / max(ctx.rules.min_installment, ONE))))

    affordable = ctx.affordable
    lowest_room = list(accumulate(affordable, min))  # lowest_room[n - 1]: the tightest of n months
    # No payment exceeds P/n + F/n + the interest on all of P for the longest period + 2.5
    # minor units (each rounded part is within a unit of P/n or F/n, interest within half).
    margin = debt.principal * basis.monthly_rate * max(basis.first_period, ONE) + minor_unit(ctx.currency) * HALF * 5

    def fits(term: int) -> bool:
        """What evaluate would say: every payment fits its month. Sure without looking at
        the payments when even the bound fits the tightest month; else payment by payment,
        stopping at the first that does not fit."""
        if (debt.principal + debt.fees) / term + margin <= lowest_room[term - 1]:
            return True
        return all(payment <= room for payment, room in zip(equal_principal_payments(basis, term), affordable))

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


def interest_freeze(ctx: Context) -> Option:
    debt = ctx.debt(Structure.interest_freeze)
    before = []
    if debt.down_payment > 0:
        before = [single_payment_row(debt.down_payment, ctx.down_payment_date, kind="down_payment",
                                     balance=debt.principal + debt.fees, fees=debt.down_payment_fees)]
    reasons = [Reason("down_payment", {"amount": str(debt.down_payment)})] if before else []
    return _shaped(ctx, Structure.interest_freeze, debt, [ONE] * ctx.rules.max_term_months,
                   {"down_payment": str(debt.down_payment)}, reasons, before=before)


def _changed_income_ratio(ctx: Context) -> tuple[int, Decimal] | None:
    """(months until income changes, later affordable / now affordable), if the borrower
    told us their income will change and both amounts leave something to pay."""
    finances = ctx.case.finances
    months = finances.expected_recovery_months
    if finances.income_after_recovery is None or months <= 0 or months >= ctx.rules.max_term_months:
        return None
    now = ctx.budget.affordable_now
    later = ctx.budget.affordable_from(
        finances.income_after_recovery - finances.essential_total - finances.other_debt_payments
    )
    if now <= 0 or later <= 0:
        return None
    return months, later / now


def step_up(ctx: Context) -> Option | None:
    change = _changed_income_ratio(ctx)
    if change is None or change[1] <= ONE:
        return None
    months, ratio = change
    ratio = min(ratio, ctx.rules.step_max_ratio)
    weights = [ONE] * months + [ratio] * (ctx.rules.max_term_months - months)
    reason = Reason("rises_with_recovery", {"months": str(months)})
    # Rounding down keeps every payment at or below the next: the last one takes the cents.
    return _shaped(ctx, Structure.step_up, ctx.debt(Structure.step_up), weights,
                   {"step_after_months": str(months), "step_ratio": str(ratio.quantize(Decimal("0.0001")))},
                   [reason], rounding=ROUND_FLOOR)


def step_down(ctx: Context) -> Option | None:
    change = _changed_income_ratio(ctx)
    if change is None or change[1] >= ONE:
        return None
    months, ratio = change
    ratio = max(ratio, ONE / ctx.rules.step_max_ratio)
    weights = [ONE] * months + [ratio] * (ctx.rules.max_term_months - months)
    reason = Reason("falls_with_income", {"months": str(months)})
    return _shaped(ctx, Structure.step_down, ctx.debt(Structure.step_down), weights,
                   {"step_after_months": str(months), "step_ratio": str(ratio.quantize(Decimal("0.0001")))},
                   [reason])


def seasonal(ctx: Context) -> Option | None:
    finances = ctx.case.finances
    high = finances.high_income_months
    if high is None:
        return None
    low_room = max(ctx.budget.affordable_now, ctx.rules.min_installment)
    high_room = ctx.budget.affordable_from(
        high.monthly_income - finances.essential_total - finances.other_debt_payments
    )
    if high_room <= low_room:
        return None
    ratio = min(high_room / low_room, ctx.rules.step_max_ratio) if low_room > 0 else ctx.rules.step_max_ratio
    if ratio <= ONE:
        return None
    dates = ctx.basis(ctx.debt(Structure.seasonal)).dates(ctx.rules.max_term_months)
    weights = [ratio if due.month in high.months else ONE for due in dates]
    months = ",".join(str(m) for m in sorted(high.months))
    return _shaped(ctx, Structure.seasonal, ctx.debt(Structure.seasonal), weights,
                   {"high_months": months, "high_ratio": str(ratio.quantize(Decimal("0.0001")))},
                   [Reason("follows_seasonal_income", {"months": months})])


def holiday(ctx: Context) -> Option | None:
    finances = ctx.case.finances
    wanted = finances.expected_recovery_months or (3 if finances.outlook is Outlook.temporary else 0)
    months = min(ctx.rules.holiday_max_months, wanted, ctx.rules.max_term_months - 1)
    if months <= 0 or finances.outlook is Outlook.lasting:
        return None
    debt = ctx.debt(Structure.holiday)
    basis = ctx.basis(debt)
    pause = interest_only_rows(basis, months)
    after = ctx.basis(debt, as_of=pause[-1].due_date, first_due=basis.dates(months + 1)[-1])
    return _shaped(ctx, Structure.holiday, debt, [ONE] * (ctx.rules.max_term_months - months),
                   {"holiday_months": str(months)}, [Reason("payment_holiday", {"months": str(months)})],
                   basis=after, before=pause)


def settlement(ctx: Context) -> Option | None:
    loan, rules = ctx.case.loan, ctx.rules
    owed = loan.total_owed
    amount = max(quantize(owed * (ONE - rules.settlement_max_discount), loan.currency),
                 quantize(owed * rules.settlement_min_share, loan.currency))
    if ctx.case.finances.savings_available < amount or amount >= owed:
        return None
    discount = owed - amount
    penalties = min(discount, loan.penalty_fees)
    interest = min(discount - penalties, loan.overdue_interest)
    principal = discount - penalties - interest
    debt = Debt(loan.principal - principal, loan.overdue_interest - interest + loan.penalty_fees - penalties,
                ZERO, ZERO, ZERO, penalties)
    row = Row(1, ctx.down_payment_date, amount, debt.principal, ZERO, debt.fees, ZERO, "settlement")
    reason = Reason("settles_now", {"discount": str(discount)})
    return evaluate(ctx, Structure.settlement, {"discount": str(discount)}, debt, [row], [reason],
                    principal_waived=principal, interest_waived=interest)


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
    """The borrower's own plan: the shortest lawful term at or under their amount, or the
    level amount for their number of months. Raises NoPlanPossible with a message key."""
    rules = ctx.rules
    debt = ctx.debt(Structure.custom)
    basis = ctx.basis(debt)
    weights = [ONE] * rules.max_term_months
    scales = scales_by_term(basis, weights)
    if months is not None:
        if not 1 <= months <= rules.max_term_months:
            raise NoPlanPossible("term out of range", key="custom_months_out_of_range",
                                 maximum=rules.max_term_months)
        term = months
    else:
        if monthly_amount is None or monthly_amount <= 0:
            raise NoPlanPossible("amount must be positive", key="custom_amount_invalid")
        owed = debt.principal + debt.fees
        if monthly_amount < rules.min_installment and monthly_amount < owed:
            raise NoPlanPossible("below the minimum instalment", key="custom_below_minimum",
                                 minimum=rules.min_installment)
        term = next((n for n, (s, f) in enumerate(scales, 1) if s + f <= monthly_amount), None)
        if term is None:
            lowest = quantize(sum(scales[-1]), ctx.currency, ROUND_UP)
            raise NoPlanPossible("amount too low for the longest term", key="custom_amount_too_low",
                                 minimum=lowest, months=rules.max_term_months)
    scale, fee_scale = scales[term - 1]
    rows = shaped_rows(basis, weights[:term], scale, fee_scale)
    asked = {"monthly_amount": str(monthly_amount)} if monthly_amount is not None else {}
    return evaluate(ctx, Structure.custom, {**asked, "months": str(term)}, debt, rows,
                    [Reason("your_amount")])
