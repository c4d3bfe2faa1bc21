"""Turn a schedule into an `Option`: its cost (APR by IRR), affordability, compliance checks,
reasons for the conversation, and what it is worth to the lender.

Completion likelihood (a documented heuristic, 0-1) multiplies three factors:
- outlook: temporary 0.90, unsure 0.80, lasting 0.75;
- affordability margin: 1.0 while the largest payment takes at most half of disposable
  income, falling linearly to 0.6 at all of it; an unaffordable plan gets 0.3 / ratio;
- history: 0.8 + 0.2 x on-time payments in the last 12 months / 12 (0.9 when unknown);
- length: 1 - 0.003 per month of the plan, at least 0.5 (long plans break more often).
The lender's score is the present value of the payments (policy discount rate) times it.
"""
from __future__ import annotations

import math
from datetime import date
from decimal import ROUND_UP, Decimal
from functools import lru_cache

from plans.apr import apr_from_monthly, monthly_irr_of, prepared_flow
from plans.dates import months_between
from plans.models import Check, Option, Outlook, Reason, Row, Structure, make_option_id
from plans.money import ZERO, quantize
from plans.context import Context
from plans.restructure import Debt

ONE = Decimal(1)
OUTLOOK_FACTOR = {Outlook.temporary: Decimal("0.90"), Outlook.unsure: Decimal("0.80"), Outlook.lasting: Decimal("0.75")}
RATIO_PLACES = Decimal("0.0001")
CENT = Decimal("0.01")
MINUS_INFINITY = Decimal("-Infinity")


def evaluate(
    ctx: Context,
    structure: Structure,
    parameters: dict[str, str],
    debt: Debt,
    rows: list[Row],
    reasons: list[Reason],
    *,
    principal_waived: Decimal = ZERO,
    interest_waived: Decimal = ZERO,
) -> Option:
    loan = ctx.case.loan
    walk = _walk(ctx, rows, debt.total)
    total = walk.total
    monthly = ZERO if total == debt.total else monthly_irr_of(walk.flows, float(debt.rate) / 12)
    apr, effective = apr_from_monthly(monthly)
    shortfall, ratio = walk.worst_gap, walk.ratio
    affordable = shortfall <= 0
    instalments = [row for row in rows if row.kind != "down_payment"]
    checks = _checks(ctx, structure, instalments, apr)
    reasons = list(reasons) + _common_reasons(ctx, debt, rows, affordable)
    present_value = walk.present_value
    likelihood = _likelihood(ctx, ratio, affordable, len(instalments))
    return Option(
        option_id=make_option_id(structure, len(instalments)),
        structure=structure,
        parameters=parameters,
        currency=loan.currency,
        schedule=rows,
        plan_rate=debt.rate,
        restructured_principal=debt.principal + debt.down_payment - debt.down_payment_fees,
        carried_fees=debt.fees + debt.down_payment_fees,
        down_payment=debt.down_payment,
        interest_capitalised=debt.interest_capitalised,
        interest_waived=interest_waived,
        penalties_waived=debt.penalties_waived,
        principal_waived=principal_waived,
        total_repayable=total,
        total_interest=walk.total_interest,
        apr=apr,
        effective_annual_rate=effective,
        affordability_ratio=ratio,
        affordable=affordable,
        shortfall=quantize(max(shortfall, ZERO), loan.currency, ROUND_UP),
        checks=checks,
        reasons=reasons,
        expected_recovery=quantize(total * likelihood, loan.currency),
        recovery_present_value=quantize(present_value, loan.currency),
        completion_likelihood=likelihood.quantize(RATIO_PLACES),
        score=(present_value * likelihood).quantize(CENT),
    )


class _Walk:
    """What one pass over a schedule learns: totals, the dated flows for the IRR (the amount
    financed at 0, then each payment, as `plans.apr.prepared_flow` makes them), the
    present value at the lender's rate, and how the payments sit with the budget."""

    __slots__ = ("total", "total_interest", "flows", "present_value", "worst_gap", "ratio")


def _walk(ctx: Context, rows: list[Row], financed: Decimal) -> _Walk:
    """One pass over the rows (a quote evaluates thousands of them).

    Time: instalments sit on the monthly grid from the first due date (whole months apart);
    a down payment or settlement at its date, in months from the as-of date.
    Present value: payments discounted at the lender's rate; the grid walks by one month's
    factor, so a 480-month plan costs 480 multiplications, not 480 fractional powers.
    Affordability: the largest excess of a payment over what its month affords, and the
    largest share of disposable income a payment takes (None if a payment falls in a month
    with no disposable income). A down payment may use savings and the first month's
    affordable amount, a settlement savings alone.
    """
    as_of, budget = ctx.case.as_of, ctx.budget
    affordable, disposables = ctx.affordable, ctx.disposable
    savings = ctx.case.finances.savings_available
    first = float(months_between(as_of, ctx.first_due))
    step, grid = _discounting(ctx.policy.discount_rate, as_of, ctx.first_due)
    total = total_interest = present_value = ZERO
    worst_gap = MINUS_INFINITY
    # The largest payment made out of each distinct disposable income: the largest share is
    # then one division per distinct income, not one per row. Months with the same income
    # come in runs (ctx.disposable shares one object per amount), kept aside until they end.
    largest: dict[Decimal, Decimal] = {}
    run_income, run_largest = None, ZERO
    financed = float(financed)
    flows = [prepared_flow(0.0, financed, -math.inf)] if financed else []
    previous_time = 0.0 if financed else -math.inf
    append = flows.append
    last_payment, last_room, amount = None, None, 0.0
    count = len(affordable)
    index = 0
    for row in rows:
        payment, kind = row.payment, row.kind
        total += payment
        total_interest += row.interest
        if kind == "down_payment" or kind == "settlement":
            t = months_between(as_of, row.due_date)
            present_value += payment * _power(step, t)
            time = float(t)
            room = savings + (affordable[0] if kind == "down_payment" else ZERO)
            disposable = savings + max(budget.disposable_now, ZERO)
        else:
            present_value += payment * grid
            grid *= step
            time = first + index
            if index < count:
                room, disposable = affordable[index], disposables[index]
            else:
                room = budget.affordable(index, row.due_date.month)
                disposable = budget.disposable(index, row.due_date.month)
            index += 1
            if room is last_room and disposable is run_income and payment == last_payment:
                # The month before had the same payment, room and income: nothing new to learn.
                if amount:
                    append((time, amount, time * amount, -1e-12 < time - previous_time - 1.0 < 1e-12))
                    previous_time = time
                continue
        last_room = room
        if payment != last_payment:
            last_payment, amount = payment, -float(payment)
        if amount:
            append((time, amount, time * amount, -1e-12 < time - previous_time - 1.0 < 1e-12))
            previous_time = time
        gap = payment - room
        if gap > worst_gap:
            worst_gap = gap
        if disposable is not run_income:
            if run_largest > largest.get(run_income, ZERO):
                largest[run_income] = run_largest
            run_income, run_largest = disposable, ZERO
        if payment > run_largest:
            run_largest = payment
    if run_largest > largest.get(run_income, ZERO):
        largest[run_income] = run_largest
    walk = _Walk()
    walk.total, walk.total_interest, walk.flows = total, total_interest, flows
    walk.present_value, walk.worst_gap = present_value, worst_gap
    if any(disposable <= 0 for disposable in largest):
        walk.ratio = None
    else:
        walk.ratio = max((p / d for d, p in largest.items()), default=ZERO).quantize(RATIO_PLACES)
    return walk





def _checks(ctx: Context, structure: Structure, instalments: list[Row], apr: Decimal) -> list[Check]:
    rules, policy = ctx.rules, ctx.policy
    regular = [r.payment for r in instalments[:-1] if r.kind == "instalment"]
    smallest = min(regular) if regular else None
    fixed = ctx.check_limits
    return [
        Check("term", str(len(instalments)), fixed["term"], len(instalments) <= rules.max_term_months),
        Check("apr_cap", str(apr), fixed["apr_cap"], apr <= policy.apr_cap),
        Check(
            "min_installment",
            str(smallest) if smallest is not None else "-",
            fixed["min_installment"],
            smallest is None or smallest >= rules.min_installment,
        ),
        fixed["replan_limit"],
        Check("structure_allowed", structure.value, fixed["structures"], structure in rules.structures),
    ]


def _common_reasons(ctx: Context, debt: Debt, rows: list[Row], affordable: bool) -> list[Reason]:
    loan = ctx.case.loan
    reasons = []
    if affordable:
        reasons.append(Reason("fits_income"))
    else:
        month = _fits_from(ctx, rows)
        reasons.append(Reason("fits_income_from_month", {"month": str(month)}) if month else Reason("above_income"))
    if debt.penalties_waived > 0:
        reasons.append(Reason("penalties_waived", {"amount": str(debt.penalties_waived)}))
    if debt.interest_capitalised > 0:
        reasons.append(Reason("interest_capitalised", {"amount": str(debt.interest_capitalised)}))
    if debt.rate == 0 and loan.annual_rate > 0:
        reasons.append(Reason("interest_frozen"))
    elif debt.rate < loan.annual_rate:
        reasons.append(Reason("rate_reduced", {"from": str(loan.annual_rate), "to": str(debt.rate)}))
    rising = sum(1 for row in rows if row.principal < 0)
    if rising:  # a payment below its month's interest: the debt grows then, and the borrower must know
        reasons.append(Reason("balance_rises", {"payments": str(rising)}))
    return reasons


def _fits_from(ctx: Context, rows: list[Row]) -> int | None:
    """The first plan month from which every payment fits, if the early ones do not."""
    instalments = [row for row in rows if row.kind not in ("down_payment", "settlement")]
    fits_after = None
    affordable = ctx.affordable
    for index in range(len(instalments) - 1, -1, -1):
        if index < len(affordable):
            room = affordable[index]
        else:
            room = ctx.budget.affordable(index, instalments[index].due_date.month)
        if instalments[index].payment > room:
            fits_after = index + 2
            break
    if fits_after is None or fits_after > len(instalments):
        return None
    return fits_after


def _discounting(annual_rate: Decimal, as_of: date, first_due: date) -> tuple[Decimal, Decimal]:
    """(one month's discount factor, the factor at the first due date)."""
    step = _monthly_discount(annual_rate)
    return step, _power(step, months_between(as_of, first_due))


@lru_cache(maxsize=64)
def _monthly_discount(annual_rate: Decimal) -> Decimal:
    return ONE / (ONE + annual_rate / 12)


@lru_cache(maxsize=4096)
def _power(base: Decimal, exponent: Decimal) -> Decimal:
    """base ** exponent. A fractional power costs ~30 us in Decimal; the exponents are
    periods in months (whole months + days / days in the month), a few hundred values that
    recur from quote to quote, and the base is the policy's monthly discount factor."""
    return base**exponent


_D01, _D02, _D03, _D05, _D08, _D09 = (Decimal(x) for x in ("0.1", "0.2", "0.3", "0.5", "0.8", "0.9"))
_PER_MONTH = Decimal("0.003")


def _likelihood(ctx: Context, ratio: Decimal | None, affordable: bool, months: int) -> Decimal:
    finances, loan = ctx.case.finances, ctx.case.loan
    outlook = OUTLOOK_FACTOR[finances.outlook]
    if ratio is None:
        margin = _D01
    elif not affordable:
        margin = min(_D03, _D03 / max(ratio, ONE))
    else:
        margin = ONE - max(ZERO, ratio - _D05) * _D08
    history = (
        _D09 if loan.on_time_payments_last_12 is None
        else _D08 + _D02 * loan.on_time_payments_last_12 / 12
    )
    length = max(_D05, ONE - _PER_MONTH * months)
    return outlook * margin * history * length
