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

from decimal import ROUND_UP, Decimal

from plans.apr import apr_from_monthly, monthly_irr
from plans.dates import months_between
from plans.models import Check, Option, Outlook, Reason, Row, Structure
from plans.money import ZERO, quantize
from plans.context import Context
from plans.restructure import Debt

ONE = Decimal(1)
OUTLOOK_FACTOR = {Outlook.temporary: Decimal("0.90"), Outlook.unsure: Decimal("0.80"), Outlook.lasting: Decimal("0.75")}
RATIO_PLACES = Decimal("0.0001")


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
    times = _times(ctx, rows)
    total = sum((row.payment for row in rows), ZERO)
    monthly = _irr(debt.total, rows, times)
    apr, effective = apr_from_monthly(monthly)
    shortfall, ratio = _affordability(ctx, rows)
    affordable = shortfall <= 0
    instalments = [row for row in rows if row.kind not in ("down_payment",)]
    checks = _checks(ctx, structure, instalments, apr)
    reasons = list(reasons) + _common_reasons(ctx, debt, rows, affordable)
    present_value = _present_value(ctx, rows, times)
    likelihood = _likelihood(ctx, ratio, affordable, len(instalments))
    return Option(
        option_id=f"{structure.value}-{len(instalments)}",
        structure=structure,
        parameters=parameters,
        currency=loan.currency,
        schedule=rows,
        plan_rate=debt.rate,
        restructured_principal=debt.principal + debt.down_payment,
        carried_fees=debt.fees,
        down_payment=debt.down_payment,
        interest_capitalised=debt.interest_capitalised,
        interest_waived=interest_waived,
        penalties_waived=debt.penalties_waived,
        principal_waived=principal_waived,
        total_repayable=total,
        total_interest=sum((row.interest for row in rows), ZERO),
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
        score=(present_value * likelihood).quantize(Decimal("0.01")),
    )


def _times(ctx: Context, rows: list[Row]) -> list[Decimal]:
    """Each row's time in months from the as-of date: instalments on the monthly grid."""
    first = months_between(ctx.case.as_of, ctx.first_due)
    times, index = [], 0
    for row in rows:
        if row.kind in ("down_payment", "settlement"):
            times.append(months_between(ctx.case.as_of, row.due_date))
        else:
            times.append(first + index)
            index += 1
    return times


def _irr(financed: Decimal, rows: list[Row], times: list[Decimal]) -> Decimal:
    total = sum((row.payment for row in rows), ZERO)
    if total == financed:
        return ZERO
    flows = [(ZERO, financed)] + [(t, -row.payment) for t, row in zip(times, rows)]
    return monthly_irr(flows)


def _affordability(ctx: Context, rows: list[Row]) -> tuple[Decimal, Decimal | None]:
    """(largest excess of a payment over what its month affords, largest share of disposable)."""
    budget = ctx.budget
    savings = ctx.case.finances.savings_available
    worst_gap = Decimal("-Infinity")
    ratio: Decimal | None = ZERO
    index = 0
    for row in rows:
        if row.kind in ("down_payment", "settlement"):
            room = savings + (ctx.affordable[0] if row.kind == "down_payment" else ZERO)
            disposable = savings + max(budget.disposable_now, ZERO)
        else:
            room = ctx.affordable[index] if index < len(ctx.affordable) else budget.affordable(index, row.due_date.month)
            disposable = budget.disposable(index, row.due_date.month)
            index += 1
        worst_gap = max(worst_gap, row.payment - room)
        if row.payment > 0:
            ratio = None if ratio is None or disposable <= 0 else max(ratio, row.payment / disposable)
    return worst_gap, (ratio.quantize(RATIO_PLACES) if ratio is not None else None)


def _checks(ctx: Context, structure: Structure, instalments: list[Row], apr: Decimal) -> list[Check]:
    rules, policy, loan = ctx.rules, ctx.policy, ctx.case.loan
    regular = [r.payment for r in instalments[:-1] if r.kind == "instalment"]
    smallest = min(regular) if regular else None
    return [
        Check("term", str(len(instalments)), str(rules.max_term_months), len(instalments) <= rules.max_term_months),
        Check("apr_cap", str(apr), str(policy.apr_cap), apr <= policy.apr_cap),
        Check(
            "min_installment",
            str(smallest) if smallest is not None else "-",
            str(rules.min_installment),
            smallest is None or smallest >= rules.min_installment,
        ),
        Check("replan_limit", str(loan.prior_restructures), str(policy.replan_limit_12m),
              loan.prior_restructures < policy.replan_limit_12m),
        Check("structure_allowed", structure.value, ",".join(s.value for s in rules.structures),
              structure in rules.structures),
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
    return reasons


def _fits_from(ctx: Context, rows: list[Row]) -> int | None:
    """The first plan month from which every payment fits, if the early ones do not."""
    instalments = [row for row in rows if row.kind not in ("down_payment", "settlement")]
    fits_after = None
    for index in range(len(instalments) - 1, -1, -1):
        room = ctx.budget.affordable(index, instalments[index].due_date.month)
        if instalments[index].payment > room:
            fits_after = index + 2
            break
    if fits_after is None or fits_after > len(instalments):
        return None
    return fits_after


def _present_value(ctx: Context, rows: list[Row], times: list[Decimal]) -> Decimal:
    """Payments discounted at the lender's rate; instalments walk the monthly grid so a
    480-month plan costs 480 multiplications, not 480 fractional powers."""
    step = ONE / (ONE + ctx.policy.discount_rate / 12)
    grid = step ** months_between(ctx.case.as_of, ctx.first_due)
    total = ZERO
    for row, t in zip(rows, times):
        if row.kind in ("down_payment", "settlement"):
            total += row.payment * step**t
        else:
            total += row.payment * grid
            grid *= step
    return total


def _likelihood(ctx: Context, ratio: Decimal | None, affordable: bool, months: int) -> Decimal:
    finances, loan = ctx.case.finances, ctx.case.loan
    outlook = OUTLOOK_FACTOR[finances.outlook]
    if ratio is None:
        margin = Decimal("0.1")
    elif not affordable:
        margin = min(Decimal("0.3"), Decimal("0.3") / max(ratio, ONE))
    else:
        margin = ONE - max(ZERO, ratio - Decimal("0.5")) * Decimal("0.8")
    history = (
        Decimal("0.9") if loan.on_time_payments_last_12 is None
        else Decimal("0.8") + Decimal("0.2") * loan.on_time_payments_last_12 / 12
    )
    length = max(Decimal("0.5"), ONE - Decimal("0.003") * months)
    return outlook * margin * history * length
