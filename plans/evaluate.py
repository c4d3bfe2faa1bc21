"""Turn a schedule into an `Option`: its cost (APR by IRR on the actual dates), whether every
month fits the budget (`plans.budget.month_by_month`), compliance checks, reasons for the
conversation, what is disclosed, and what it is worth to the lender.

Completion likelihood (a documented heuristic, 0-1) multiplies four factors:
- outlook: temporary 0.90, unsure 0.80, lasting 0.75;
- affordability margin: 1.0 while the most any month asks takes at most half of that month's
  disposable income, falling linearly to 0.6 at all of it; an unaffordable plan gets
  0.3 / ratio (at most 0.3), and 0.1 when a month with something to pay has no disposable
  income at all;
- history: 0.8 + 0.2 x on-time payments in the last 12 months / 12 (0.9 when unknown);
- length: 1 - 0.003 per month of the plan, at least 0.5 (long plans break more often).
The lender's score is the present value of the payments (policy discount rate, on the same
actual dates as the APR) times it. The present value is an estimate for ranking, discounted in
floating point as the IRR is solved; no amount anyone pays is computed that way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, ROUND_UP, Decimal

from plans.apr import MONTHS_PER_DAY, apr_from_monthly, monthly_irr_of
from plans.budget import month_by_month
from plans.context import Context
from plans.models import Check, MonthFit, Option, Outlook, Pause, Reason, Row, Structure, make_option_id
from plans.money import ONE, RATIO_PLACES, ZERO, quantize, round_places
from plans.restructure import Debt

OUTLOOK_FACTOR = {Outlook.temporary: Decimal("0.90"), Outlook.unsure: Decimal("0.80"), Outlook.lasting: Decimal("0.75")}
#: the lender's score is stated in hundredths, whatever the currency
SCORE_PLACES = 2


def evaluate(
    ctx: Context,
    structure: Structure,
    parameters: dict[str, str],
    debt: Debt,
    rows: list[Row],
    reasons: list[Reason],
    *,
    pauses: Sequence[Pause] = (),
    principal_waived: Decimal = ZERO,
    interest_waived: Decimal = ZERO,
    fit: tuple[MonthFit, Decimal | None] | None = None,
) -> Option:
    """`fit`: `month_by_month` of these rows, when the caller has it already."""
    loan = ctx.case.loan
    total, row_interest, flows, present_value = _walk(ctx, rows, debt.total)
    monthly = ZERO if total == debt.total else monthly_irr_of(flows, float(debt.rate) / 12)
    apr, effective = apr_from_monthly(monthly)
    tightest, ratio = fit or month_by_month(rows, ctx.savings, ctx.budget)
    affordable = tightest.gap <= 0
    instalments = [row for row in rows if row.kind != "down_payment"]
    checks = _checks(ctx, structure, instalments, apr)
    reasons = list(reasons) + _common_reasons(ctx, debt, rows, affordable)
    likelihood = _likelihood(ctx, ratio, affordable, len(instalments))
    pause_interest = quantize(sum((pause.capitalised for pause in pauses), ZERO), loan.currency)
    restructured_principal = debt.principal + debt.down_payment - debt.down_payment_fees
    carried_fees = debt.fees + debt.down_payment_fees
    if debt.penalties_kept <= 0:
        kept_paid = "none"
    else:
        kept_paid = "settlement" if structure is Structure.settlement else "interest_free_payments"
    return Option(
        option_id=make_option_id(structure, len(instalments)),
        structure=structure,
        parameters=parameters,
        currency=loan.currency,
        schedule=rows,
        pauses=list(pauses),
        plan_rate=debt.rate,
        restructured_balance=restructured_principal + carried_fees,
        restructured_principal=restructured_principal,
        carried_fees=carried_fees,
        down_payment=debt.down_payment,
        interest_capitalised=debt.interest_capitalised,
        overdue_interest_carried=debt.overdue_interest_carried,
        fees_from_earlier_plan=debt.earlier_fees,
        interest_waived=interest_waived,
        penalties_waived=debt.penalties_waived,
        penalties_kept=debt.penalties_kept,
        penalties_kept_paid=kept_paid,
        principal_waived=principal_waived,
        pause_interest=pause_interest,
        total_repayable=total,
        total_interest=row_interest + pause_interest,
        apr=apr,
        effective_annual_rate=effective,
        affordability_ratio=ratio,
        affordable=affordable,
        shortfall=quantize(max(tightest.gap, ZERO), loan.currency, ROUND_UP),
        tightest=tightest,
        checks=checks,
        reasons=reasons,
        expected_recovery=quantize(total * likelihood, loan.currency),
        recovery_present_value=quantize(present_value, loan.currency),
        completion_likelihood=round_places(likelihood, RATIO_PLACES, ROUND_HALF_EVEN),
        score=round_places(present_value * likelihood, SCORE_PLACES, ROUND_HALF_EVEN),
    )


def _walk(
    ctx: Context, rows: list[Row], financed: Decimal
) -> tuple[Decimal, Decimal, list[tuple[float, float, float]], Decimal]:
    """One pass over the rows (a quote evaluates thousands of them): (total paid, interest
    in the rows, the dated flows for the IRR, the present value at the lender's rate).

    Time, for the IRR and the present value alike, is days after the as-of date / (365/12):
    the amount financed at 0, each payment on its date.
    """
    as_of = ctx.case.as_of
    per_day = -math.log1p(float(ctx.policy.discount_rate) / 12) * MONTHS_PER_DAY
    exp = math.exp
    total = interest = ZERO
    present_value = 0.0
    flows = [(0.0, float(financed), 0.0)] if financed else []
    append = flows.append
    last_payment, amount = None, 0.0
    for row in rows:
        payment = row.payment
        total += payment
        interest += row.interest
        if payment != last_payment:
            last_payment, amount = payment, -float(payment)
        days = (row.due_date - as_of).days
        present_value -= amount * exp(days * per_day)
        if amount:
            t = days * MONTHS_PER_DAY
            append((t, amount, t * amount))
    return total, interest, flows, Decimal(repr(present_value))


def _checks(ctx: Context, structure: Structure, instalments: list[Row], apr: Decimal) -> list[Check]:
    rules, policy = ctx.rules, ctx.policy
    regular = [r.payment for r in instalments[:-1] if r.kind == "instalment"]
    smallest = min(regular) if regular else None
    fixed = ctx.check_limits
    last = instalments[-1].due_date
    return [
        Check("term", str(len(instalments)), fixed["term"], len(instalments) <= rules.max_term_months),
        Check("span", last.isoformat(), fixed["span"], last <= ctx.last_allowed),
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
        payment = _fits_from(ctx, rows)
        reasons.append(Reason("fits_income_from_month", {"month": str(payment)}) if payment else Reason("above_income"))
    if debt.penalties_waived > 0:
        reasons.append(Reason("penalties_waived", {"amount": str(debt.penalties_waived)}))
    if debt.penalties_kept > 0:
        reasons.append(Reason("penalties_kept", {"amount": str(debt.penalties_kept)}))
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
    """The number of the first payment from which every month fits, if the early ones do not."""
    gaps: list[tuple[int, Decimal]] = []
    month_by_month(rows, ctx.savings, ctx.budget, gaps)
    last_bad = max((number for number, gap in gaps if gap > 0), default=None)
    if last_bad is None or last_bad >= rows[-1].number:
        return None
    return last_bad + 1


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
    history = _D09 if loan.on_time_payments_last_12 is None else _D08 + _D02 * loan.on_time_payments_last_12 / 12
    length = max(_D05, ONE - _PER_MONTH * months)
    return outlook * margin * history * length
