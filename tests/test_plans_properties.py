"""Properties every option and quote the engine gives must have, for random loans, finances
and policies (hypothesis), checked against an independent statement of the rules
(`tests/plan_oracle.py`): every calendar month affordable (down payments, savings, income
changes dated from today), every agreeable option lawful (span included), no empty
instalment, one period of interest after a pause, step and seasonal ratios with the rounding
residue, the shortest term, honest "nothing fits" and "needs approval" answers, waived + kept
= penalties, and an APR that solves the annex equation on the actual dates.

Loans: all four products, CNY and JPY (no minor unit), due days up to the 31st, arrears,
penalties, restructure history. Finances: salary to none, seasonal high months, expected
recovery (or fall) of income, zero or negative disposable income, savings. Policies: the
shipped policy with its numbers varied (shares, caps, terms, minimum instalments, interest
treatment, waivers, step ratios, the structures allowed).

Profiles: the quick one runs by default; `HYPOTHESIS_PROFILE=long` runs many more examples.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP
from decimal import Decimal as D
from itertools import pairwise

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from plan_cases import policy as policy_with
from plan_oracle import available, fits_every_month, income_in, month_gaps, npv_at_apr
from plans.dates import add_months, first_due_date, months_between
from plans.engine import build_options, custom_quote, offered_option, quote
from plans.errors import NoPlanPossible
from plans.models import Case, HardshipReason, Option, Product, QuoteStatus, Structure
from plans.money import minor_unit
from plans.policy import Policy, default_policy

settings.register_profile("quick", max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("long", max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))

# Rough size of a CNY amount in each currency; JPY amounts are whole yen.
CURRENCY_SCALE = {"CNY": D(1), "JPY": D(20)}

PRINCIPAL_RANGE = {  # outstanding principal in CNY
    Product.credit_card: (500, 300_000),
    Product.consumer_loan: (2_000, 500_000),
    Product.auto_loan: (10_000, 600_000),
    Product.mortgage: (50_000, 5_000_000),
}
ALL_STRUCTURES = [s for s in Structure if s is not Structure.custom]


# ---------------------------------------------------------------- strategies


@st.composite
def amounts(draw, currency: str, low: float, high: float) -> D:
    """An amount between low and high CNY-equivalents, exact in the currency's minor unit."""
    unit = minor_unit(currency)
    scale = CURRENCY_SCALE[currency]
    lo, hi = int(D(str(low)) * scale / unit), int(D(str(high)) * scale / unit)
    return D(draw(st.integers(min_value=lo, max_value=hi))) * unit


@st.composite
def loans(draw, currency: str, product: Product, as_of: date) -> dict:
    low, high = PRINCIPAL_RANGE[product]
    outstanding = draw(amounts(currency, low, high))
    overdue = draw(st.sampled_from([D(0), None]))
    overdue = draw(amounts(currency, 0, float(low) * 2)) if overdue is None else overdue
    due_in = draw(st.integers(min_value=-40, max_value=40))
    return {
        "loan_id": "P-1",
        "product": product.value,
        "currency": currency,
        "outstanding_principal": str(outstanding),
        "overdue_principal": str(overdue),
        "overdue_interest": str(draw(amounts(currency, 0, float(low) / 2))),
        "penalty_fees": str(draw(st.one_of(st.just(D(0)), amounts(currency, 0, 2_000)))),
        "annual_rate": str(D(draw(st.integers(min_value=0, max_value=3600))) / 10_000),
        "monthly_payment": str(draw(amounts(currency, 100, 20_000))),
        "remaining_term_months": draw(st.integers(min_value=0, max_value=480)),
        "days_past_due": draw(st.integers(min_value=0, max_value=720)),
        "next_due_date": (as_of + timedelta(days=due_in)).isoformat(),
        "carried_fees": str(draw(st.one_of(st.just(D(0)), amounts(currency, 0, 3_000)))),
        "prior_restructures": draw(st.integers(min_value=0, max_value=3)),
        "on_time_payments_last_12": draw(st.one_of(st.none(), st.integers(min_value=0, max_value=12))),
    }


@st.composite
def finances(draw, currency: str, payment_days: tuple[int, int] = (1, 28)) -> dict:
    income = draw(st.one_of(st.just(D(0)), amounts(currency, 0, 60_000)))
    data: dict = {
        "monthly_income": str(income),
        "income_kind": draw(st.sampled_from(["salary", "self_employed", "seasonal", "pension", "benefits", "none"])),
        "other_debt_payments": str(draw(st.one_of(st.just(D(0)), amounts(currency, 0, 5_000)))),
        "dependants": draw(st.integers(min_value=0, max_value=4)),
        "savings_available": str(draw(st.one_of(st.just(D(0)), amounts(currency, 0, 400_000)))),
        "hardship_reason": draw(st.sampled_from([reason.value for reason in HardshipReason])),
        "outlook": draw(st.sampled_from(["temporary", "lasting", "unsure"])),
    }
    if draw(st.booleans()):
        data["essential_expenses"] = str(draw(amounts(currency, 0, 40_000)))
    else:
        categories = draw(
            st.lists(
                st.sampled_from(["housing", "food", "utilities_transport", "children", "medical", "other"]),
                unique=True,
                max_size=6,
            )
        )
        data["essential_expenses"] = {c: str(draw(amounts(currency, 0, 8_000))) for c in categories}
    if draw(st.booleans()):
        data["expected_recovery_months"] = draw(st.integers(min_value=0, max_value=120))
        data["income_after_recovery"] = str(draw(amounts(currency, 0, 80_000)))
    if draw(st.booleans()):
        months = draw(st.lists(st.integers(min_value=1, max_value=12), unique=True, min_size=1, max_size=11))
        data["high_income_months"] = {"months": months, "monthly_income": str(draw(amounts(currency, 0, 100_000)))}
    if draw(st.booleans()):
        data["payment_day"] = draw(st.integers(min_value=payment_days[0], max_value=payment_days[1]))
    return data


def share(low: int = 0, high: int = 100):
    return st.integers(min_value=low, max_value=high).map(lambda pct: D(pct) / 100)


@st.composite
def policies(draw, product: Product) -> Policy:
    data = default_policy().model_dump()
    first_due_min_days = draw(st.integers(min_value=1, max_value=45))
    data.update(
        apr_cap=D(draw(st.integers(min_value=300, max_value=3600))) / 10_000,
        replan_limit_12m=draw(st.integers(min_value=0, max_value=4)),
        discount_rate=draw(share(0, 20)),
        first_due_min_days=first_due_min_days,
        down_payment_days=draw(st.integers(min_value=0, max_value=first_due_min_days - 1)),
        affordability={
            "max_share_of_disposable": draw(share(20, 100)),
            "min_income_left": D(draw(st.integers(min_value=0, max_value=2000))),
            "min_left_per_dependant": D(draw(st.integers(min_value=0, max_value=1000))),
        },
        above_apr_cap=draw(st.sampled_from(["reduce_rate", "needs_approval"])),
        recommendation={"prefer": draw(st.sampled_from(["borrower", "lender"])), "clearly_cheaper": draw(share(0, 10))},
        payment_days={
            "earliest": draw(st.integers(min_value=1, max_value=10)),
            "latest": draw(st.integers(min_value=10, max_value=31)),
        },
        penalty_waiver={"default": draw(share()), "by_reason": {"job_loss": draw(share())}},
    )
    rules = data["products"][product]
    longest = 60 if product is Product.credit_card else 480
    rules.update(
        max_term_months=draw(st.integers(min_value=1, max_value=longest)),
        min_installment=D(draw(st.sampled_from([0, 1, 50, 100, 300, 500, 2000]))),
        structures=draw(st.lists(st.sampled_from(ALL_STRUCTURES), unique=True, min_size=1)),
        interest=draw(st.sampled_from(["keep", "reduce", "freeze"])),
        floor_rate=draw(share(0, 20)),
        capitalise_overdue_interest=draw(st.booleans()),
        freeze_min_down_payment=draw(share(0, 50)),
        settlement_max_discount=draw(share(0, 60)),
        settlement_min_share=draw(share(30, 100)),
        holiday_max_months=draw(st.integers(min_value=0, max_value=12)),
        holiday_interest=draw(st.sampled_from(["freeze", "capitalise"])),
        step_max_ratio=D(draw(st.integers(min_value=100, max_value=500))) / 100,
        seasonal_max_ratio=D(draw(st.integers(min_value=100, max_value=2000))) / 100,
    )
    return Policy.model_validate(data)


@st.composite
def scenarios(draw) -> tuple[Case, Policy]:
    currency = draw(st.sampled_from(["CNY", "JPY"]))
    product = draw(st.sampled_from(list(Product)))
    as_of = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2032, 12, 31)))
    policy = default_policy() if draw(st.booleans()) else draw(policies(product))
    days = policy.payment_days
    case = Case.from_mapping(
        {
            "as_of": as_of.isoformat(),
            "loan": draw(loans(currency, product, as_of)),
            "finances": draw(finances(currency, (days.earliest, days.latest))),
        }
    )
    return case, policy


# ---------------------------------------------------------------- the invariants


def instalment_rows(option: Option):
    return [r for r in option.schedule if r.kind not in ("down_payment", "settlement")]


def grid(case: Case, policy: Policy) -> tuple[list, int]:
    """The due dates a plan may use (first due date .. as_of + max term) and the due day."""
    day = case.finances.payment_day or case.loan.next_due_date.day
    first = first_due_date(case.as_of, day, policy.first_due_min_days)
    last = add_months(case.as_of, policy.for_product(case.loan.product).max_term_months)
    dates = []
    while (d := add_months(first, len(dates), day)) <= last:
        dates.append(d)
    return dates, day


def assert_money_adds_up(option: Option, case: Case) -> None:
    loan, rows = case.loan, option.schedule
    assert sum(r.principal for r in rows) == option.restructured_principal + option.pause_interest
    assert sum(r.fees for r in rows) == option.carried_fees
    assert sum(r.payment for r in rows) == option.total_repayable
    assert sum(r.interest for r in rows) + option.pause_interest == option.total_interest
    assert option.pause_interest == sum((p.capitalised for p in option.pauses), D(0))
    for r in rows:
        assert r.payment == r.principal + r.interest + r.fees, r
    assert option.restructured_balance == option.restructured_principal + option.carried_fees
    assert option.total_repayable == option.restructured_balance + option.total_interest
    assert option.restructured_balance + option.waived == loan.total_owed
    assert option.restructured_principal == loan.principal + option.interest_capitalised - option.principal_waived
    # Disclosure: waived + kept = penalties; where the kept part and the rest of the fees went.
    assert option.penalties_waived + option.penalties_kept == loan.penalty_fees
    assert option.penalties_kept >= 0 and option.penalties_waived >= 0
    assert (
        option.carried_fees == option.penalties_kept + option.overdue_interest_carried + option.fees_from_earlier_plan
    )
    assert option.fees_from_earlier_plan == loan.carried_fees
    assert (
        option.interest_capitalised + option.overdue_interest_carried + option.interest_waived == loan.overdue_interest
    )
    assert (option.penalties_kept_paid == "none") == (option.penalties_kept == 0)
    said = {r.key: r.params for r in option.reasons}
    assert ("penalties_kept" in said) == (option.penalties_kept > 0)
    assert ("penalties_waived" in said) == (option.penalties_waived > 0)
    assert all(r.principal >= 0 and r.fees >= 0 for r in rows if r.kind in ("down_payment", "settlement"))


def assert_interest_and_balances(option: Option, case: Case, policy: Policy) -> None:
    """Walk the calendar: each instalment charges one period of interest on the
    interest-bearing balance (the first month of the calendar: the broken first period);
    a paused month adds its interest to that balance ("capitalised") or none ("frozen");
    the balance column is what is left of principal and fees."""
    unit = minor_unit(case.loan.currency)
    rate = option.plan_rate / 12
    dates, _ = grid(case, policy)
    first_period = months_between(case.as_of, dates[0]) if dates else D(1)
    paused = {}
    for pause in option.pauses:
        months = [d for d in dates if pause.first_date <= d <= pause.last_date]
        assert len(months) == pause.months and months[0] == pause.first_date and months[-1] == pause.last_date
        for d in months:
            paused[d] = pause
    rows = {r.due_date: r for r in instalment_rows(option)}
    assert not set(rows) & set(paused), "a paused month is never an instalment"
    interest_bearing = option.restructured_principal
    owed = option.restructured_balance
    for r in option.schedule:
        if r.kind in ("down_payment", "settlement"):
            interest_bearing -= r.principal
            owed -= r.principal + r.fees
            assert r.balance == owed
    capitalised = {id(p): D(0) for p in option.pauses}
    if not rows:
        return
    for k, d in enumerate(dates):
        if d > max(rows):
            break
        period = first_period if k == 0 else D(1)
        interest = (interest_bearing * rate * period).quantize(unit, ROUND_HALF_UP)
        if d in paused:
            pause = paused[d]
            if pause.interest == "capitalised":
                interest_bearing += interest
                owed += interest
                capitalised[id(pause)] += interest
            continue
        if d not in rows:
            assert (
                not option.pauses
                or d < min(p.first_date for p in option.pauses)
                or option.structure is Structure.holiday
            )
            continue
        row = rows[d]
        assert row.interest == interest, (option.option_id, k, row, interest)
        interest_bearing -= row.principal
        owed -= row.principal + row.fees
        assert row.balance == owed and row.balance >= 0, row
    for pause in option.pauses:
        assert capitalised[id(pause)] == pause.capitalised
        if pause.interest == "frozen":
            assert pause.capitalised == 0
    assert option.schedule[-1].balance == 0


def assert_option_invariants(option: Option, case: Case, policy: Policy) -> None:
    loan, rules = case.loan, policy.for_product(case.loan.product)
    unit = minor_unit(loan.currency)
    rows = option.schedule
    assert rows, option.option_id
    assert_money_adds_up(option, case)

    # A payment below its month's interest makes the debt grow: the option must say so.
    rising = [r for r in rows if r.principal < 0]
    said = [r.params for r in option.reasons if r.key == "balance_rises"]
    assert said == ([{"payments": str(len(rising))}] if rising else []), option.option_id

    # Every amount is in the currency's minor unit (JPY: whole yen), and no row asks nothing.
    for r in rows:
        for value in (r.payment, r.principal, r.interest, r.fees, r.balance):
            assert value == value.quantize(unit), (r, unit)
    for value in (
        option.total_repayable,
        option.total_interest,
        option.down_payment,
        option.shortfall,
        option.penalties_waived,
        option.penalties_kept,
        option.restructured_principal,
    ):
        assert value == value.quantize(unit)
    assert all(r.payment > 0 for r in rows), [r for r in rows if r.payment <= 0]

    # Dates: strictly increasing; instalments on the grid of the payment day (the borrower's,
    # else the contract's, clamped), each a later calendar month; down payments and
    # settlements on the policy's day.
    dates = [r.due_date for r in rows]
    assert all(a < b for a, b in pairwise(dates))
    calendar, _ = grid(case, policy)
    monthly = instalment_rows(option)
    assert {r.due_date for r in monthly} <= set(calendar)
    if monthly:
        assert monthly[0].due_date >= case.as_of + timedelta(days=policy.first_due_min_days)
    for r in rows:
        if r.kind == "down_payment":
            assert r.due_date == case.as_of + timedelta(days=policy.down_payment_days)
            assert r.due_date < monthly[0].due_date
        if r.kind == "settlement":
            assert len(rows) == 1
    assert_interest_and_balances(option, case, policy)

    # Option id and numbers tell the truth about the schedule.
    assert option.option_id == f"{option.structure.value}-{len(option.instalments)}"
    assert [r.number for r in rows] == list(range(1, len(rows) + 1))
    assert option.down_payment == sum((r.payment for r in rows if r.kind == "down_payment"), D(0))

    # Affordable means every calendar month is affordable (the oracle's rule); otherwise the
    # shortfall is the worst month's gap.
    gaps = month_gaps(option, case, policy)
    worst = max(gap for _, gap in gaps)
    assert option.affordable == (worst <= 0), (option.option_id, gaps)
    assert option.shortfall == (max(worst, D(0))).quantize(unit, "ROUND_UP")
    assert option.tightest.gap == worst
    assert option.tightest.to_pay == option.tightest.due - option.tightest.savings_used
    if option.affordable:
        assert any(r.key == "fits_income" for r in option.reasons)

    # Compliance checks measure what they claim; the term is a span from as_of.
    checks = {c.name: c for c in option.checks}
    instalments = option.instalments
    regular = [r.payment for r in instalments[:-1] if r.kind == "instalment"]
    last_allowed = add_months(case.as_of, rules.max_term_months)
    assert checks["term"].passed == (len(instalments) <= rules.max_term_months)
    assert checks["span"].passed == (option.last_due_date <= last_allowed)
    assert checks["apr_cap"].passed == (option.apr <= policy.apr_cap)
    assert checks["min_installment"].passed == all(p >= rules.min_installment for p in regular)
    assert checks["replan_limit"].passed == (loan.prior_restructures < policy.replan_limit_12m)
    assert checks["structure_allowed"].passed == (option.structure in rules.structures)
    # Builders keep to the span and the term themselves.
    assert option.last_due_date <= last_allowed and len(instalments) <= rules.max_term_months

    pays = [r.payment for r in instalments]
    if option.structure is Structure.step_up:
        # Never less than the month before, but the last, which clears the rounding residue.
        assert all(a <= b for a, b in pairwise(pays[:-1])), pays
    if option.structure in (Structure.step_up, Structure.step_down):
        assert max(pays) / min(pays) <= rules.step_max_ratio, pays  # the residue included
    if option.structure is Structure.seasonal and not option.pauses:
        assert max(pays) / min(pays) <= rules.seasonal_max_ratio, pays  # the residue included
    if option.structure is Structure.holiday:
        (pause,) = option.pauses
        assert pause.first_date == calendar[0] and 1 <= pause.months <= rules.holiday_max_months
        frozen = rules.holiday_interest == "freeze" or option.plan_rate == 0
        assert pause.interest == ("frozen" if frozen else "capitalised")

    # The cost is honest: the APR solves the annex equation on the actual dates.
    assert option.effective_annual_rate >= option.apr - D("1e-8") or option.apr < 0
    if option.total_interest == 0:
        assert option.apr == 0
    else:
        financed = option.restructured_balance
        assert abs(npv_at_apr(option, case.as_of, financed)) <= float(financed) * 1e-6, option.option_id


def assert_quote_invariants(result, case: Case, policy: Policy) -> None:
    ids = [o.option_id for o in result.options]
    assert len(ids) == len(set(ids)) and len(ids) <= 4
    assert all(o.compliant for o in result.options)
    unit = minor_unit(case.loan.currency)
    built = build_options(case, policy)
    assert result.any_affordable == any(o.affordable for o in result.options)
    assert result.any_affordable == (result.status is QuoteStatus.ok)
    # One definition of "available", the same as the oracle's.
    assert result.budget.available == result.affordable_payment
    assert result.affordable_payment == available(case, policy, case.finances.monthly_income)
    assert result.budget.reserve == (
        policy.affordability.min_income_left + policy.affordability.min_left_per_dependant * case.finances.dependants
    )
    assert [r.key for r in result.flag_reasons] == result.flags
    if result.status is QuoteStatus.ok:
        assert result.recommended == result.options[0].option_id and result.options[0].affordable
        assert result.recommended_because is not None
        assert result.recommended_reasons[0] == result.recommended_because
        assert result.monthly_shortfall == 0 and result.closest is None
        assert not {"no_affordable_plan", "needs_approval"} & set(result.flags)
        _assert_recommendation(result, policy)
    else:
        assert result.recommended is None and not result.any_affordable
        assert "offer_person" in result.flags
    if result.status is QuoteStatus.nothing_fits:
        # Nothing fits for budget reasons: every plan falls short, and the figures agree.
        assert built and not any(o.affordable for o in built)
        assert result.monthly_shortfall > 0
        assert {"no_affordable_plan", "hardship_review"} <= set(result.flags)
        shortfalls = [o.shortfall for o in result.options]
        assert shortfalls == sorted(shortfalls)
        closest = min(result.options or built, key=lambda o: o.shortfall)
        assert result.monthly_shortfall == closest.shortfall == result.closest.gap.quantize(unit, "ROUND_UP")
        assert result.closest.to_pay - result.closest.available == result.closest.gap
    if result.status is QuoteStatus.needs_approval:
        # Lender rules, not the budget, stand in the way: no fake shortfall.
        assert result.monthly_shortfall == 0 and result.blocked_by
        assert "no_affordable_plan" not in result.flags and "needs_approval" in result.flags
        assert not any(o.affordable and o.compliant for o in built)
        for option in result.for_approval:
            assert option.affordable and not option.compliant
            assert {c.name for c in option.failed_checks} <= set(result.blocked_by)
        assert result.for_approval or not built
    assert ("replan_limit_reached" in result.flags) == (case.loan.prior_restructures >= policy.replan_limit_12m)
    assert ("debt_advice" in result.flags) >= (case.finances.hardship_reason == "over_indebted")
    # Affordable options come first.
    seen_unaffordable = False
    for option in result.options:
        seen_unaffordable |= not option.affordable
        assert not (seen_unaffordable and option.affordable)


def _assert_recommendation(result, policy: Policy) -> None:
    """The borrower's interest first: no affordable plan shown costs clearly less than the
    recommended one, unless the policy prefers the lender's favourite."""
    affordable = [o for o in result.options if o.affordable]
    recommended = result.options[0]
    favourite = max(affordable, key=lambda o: (o.score, [-ord(c) for c in o.option_id]))
    cheapest = min(o.total_repayable for o in affordable)
    margin = favourite.total_repayable * policy.recommendation.clearly_cheaper
    if policy.recommendation.prefer == "borrower":
        assert recommended.total_repayable <= favourite.total_repayable
        assert recommended.total_repayable == cheapest or favourite.total_repayable - cheapest <= margin
    else:
        assert recommended is favourite or recommended.score == favourite.score


# ---------------------------------------------------------------- the tests


@given(scenarios())
def test_every_built_option_keeps_the_invariants(scenario):
    case, policy = scenario
    options = build_options(case, policy)
    rules = policy.for_product(case.loan.product)
    assert {o.structure for o in options} <= set(rules.structures)
    for option in options:
        assert_option_invariants(option, case, policy)


@given(scenarios())
def test_quote_ranks_only_lawful_options_and_tells_the_truth(scenario):
    case, policy = scenario
    result = quote(case, policy)
    assert result.currency == case.loan.currency
    assert result.disposable_income == case.finances.disposable_income
    assert_quote_invariants(result, case, policy)
    for option in result.options + result.for_approval:
        assert_option_invariants(option, case, policy)
    for option in result.options:
        assert option.apr <= policy.apr_cap


@given(scenarios())
def test_an_offered_option_built_alone_is_the_quoted_one(scenario):
    """The dialogue confirms and records a choice with `offered_option`: it must be the very
    plan the borrower was shown (ranking only adds comparative reasons)."""
    case, policy = scenario
    for shown in quote(case, policy).options:
        alone = offered_option(case, policy, shown.option_id)
        assert alone is not None
        assert alone.schedule == shown.schedule
        assert replace(alone, reasons=shown.reasons) == shown
    assert offered_option(case, policy, "level-0") is None
    assert offered_option(case, policy, "no_such_structure-12") is None


@st.composite
def budgets_of_some_months(draw) -> tuple[Case, Policy]:
    """A scenario whose borrower can pay the debt in about 2-36 months at a steady income
    (the oracle's `available` inverted), with level and custom plans allowed: where the search for the
    shortest level term has work to do. (Most general scenarios fit no plan, or one payment.)"""
    case, policy = draw(scenarios())
    data = policy.model_dump()
    rules = data["products"][case.loan.product]
    rules["structures"] = sorted({*rules["structures"], "level", "custom"})
    policy = Policy.model_validate(data)
    months = draw(st.integers(min_value=2, max_value=36))
    target = case.loan.total_owed / months * draw(st.sampled_from([D("1.02"), D("1.1"), D("1.3")]))
    f, affordability = case.finances, policy.affordability
    reserve = affordability.min_income_left + affordability.min_left_per_dependant * f.dependants
    needed = max(target / affordability.max_share_of_disposable, target + reserve)
    income = (f.essential_total + f.other_debt_payments + needed).quantize(D(1))
    finances = f.model_dump(mode="json") | {
        "monthly_income": str(income),
        "savings_available": "0",
        "high_income_months": None,
        "income_after_recovery": None,
        "expected_recovery_months": 0,
    }
    return Case.from_mapping({**case.model_dump(mode="json"), "finances": finances}), policy


@given(budgets_of_some_months())
def test_the_shortest_term_is_the_shortest(scenario):
    """An affordable level plan of n payments: the same plan in n - 1 payments (the custom
    plan by months repays the same debt level) does not fit, whatever its rounding residue."""
    case, policy = scenario
    levels = [o for o in build_options(case, policy) if o.structure is Structure.level and o.affordable]
    compared = 0
    for option in levels:
        n = len(option.instalments)
        if n > 1:
            try:
                shorter = custom_quote(case, policy, months=n - 1)
            except NoPlanPossible:
                continue  # (n - 1 payments break a rule: not a plan either)
            assert not fits_every_month(shorter, case, policy), option.option_id
            compared += 1
    event(f"level plans compared with one payment fewer: {min(compared, 1)}")


@given(scenarios(), st.integers(min_value=1, max_value=480))
def test_custom_by_months_is_lawful_or_refused(scenario, months):
    case, policy = scenario
    calendar, _ = grid(case, policy)
    try:
        option = custom_quote(case, policy, months=months)
    except NoPlanPossible as exc:
        assert exc.key in {"custom_months_out_of_range", "custom_below_minimum", "custom_not_allowed"}
        if exc.key == "custom_months_out_of_range":
            assert months > len(calendar) and exc.params["maximum"] == len(calendar)
        if exc.key == "custom_not_allowed":
            assert exc.reasons and exc.params["rules"]
        return
    assert months <= len(calendar)
    assert len(option.instalments) == months
    assert option.compliant
    assert_option_invariants(option, case, policy)


@given(scenarios(), st.integers(min_value=1, max_value=2_000_000))
def test_custom_by_amount_is_lawful_and_says_when_it_is_over_budget(scenario, amount):
    case, policy = scenario
    unit = minor_unit(case.loan.currency)
    amount = D(amount) * unit * CURRENCY_SCALE[case.loan.currency]
    try:
        option = custom_quote(case, policy, monthly_amount=amount)
    except NoPlanPossible as exc:
        assert exc.key in {
            "custom_below_minimum",
            "custom_amount_too_low",
            "custom_not_allowed",
            "custom_months_out_of_range",
        }
        return
    assert option.compliant and option.apr <= policy.apr_cap
    assert_option_invariants(option, case, policy)
    over = [r for r in option.reasons if r.key == "over_budget"]
    assert option.affordable == (not over) == fits_every_month(option, case, policy)
    if over:
        assert D(over[0].params["available"]) == option.tightest.available
        assert D(over[0].params["asked"]) > D(over[0].params["available"])
    instalments = option.instalments
    # Every payment but the last (which clears the rounding residue) is at most the amount,
    # and one payment fewer would need more (when the plan is at the contract's rate).
    assert all(r.payment <= amount for r in instalments[:-1])
    if len(instalments) > 1 and not any(r.key == "rate_capped" for r in option.reasons):
        try:
            shorter = custom_quote(case, policy, months=len(instalments) - 1)
        except NoPlanPossible:
            return
        assert shorter.instalments[0].payment > amount - unit


# ---------------------------------------------------------------- the hardship cases


@st.composite
def job_losses(draw) -> tuple[Case, Policy]:
    """No income now, income back within the policy's holiday months, enough of it to repay
    the card well within the term; the card's policy freezes or capitalises holiday interest."""
    as_of = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2032, 12, 31)))
    debt = draw(st.integers(min_value=1_000, max_value=60_000))
    months = draw(st.integers(min_value=1, max_value=3))
    policy = default_policy() if draw(st.booleans()) else policy_with(holiday_interest="capitalise")
    case = Case.from_mapping(
        {
            "as_of": as_of.isoformat(),
            "loan": {
                "loan_id": "J",
                "product": "credit_card",
                "outstanding_principal": str(debt),
                "overdue_principal": "0",
                "annual_rate": "0.18",
                "monthly_payment": "1000",
                "remaining_term_months": 24,
                "days_past_due": 60,
                "next_due_date": (as_of + timedelta(days=draw(st.integers(min_value=0, max_value=30)))).isoformat(),
            },
            "finances": {
                "monthly_income": "0",
                "essential_expenses": "3000",
                "savings_available": "0",
                "hardship_reason": "job_loss",
                "outlook": draw(st.sampled_from(["temporary", "unsure"])),
                "expected_recovery_months": months,
                "income_after_recovery": str(debt // 4 + 5000),
            },
        }
    )
    return case, policy


@given(job_losses())
def test_no_income_now_and_income_back_gets_a_holiday_that_fits(scenario):
    case, policy = scenario
    result = quote(case, policy)
    assert_quote_invariants(result, case, policy)
    holiday = next((o for o in result.options if o.structure is Structure.holiday), None)
    calendar, _ = grid(case, policy)
    income_back = next(d for d in calendar if income_in(case, d.year, d.month) > 0)
    if income_back == calendar[0]:
        return  # the income is back before the first payment: no pause needed
    assert result.status is QuoteStatus.ok and holiday is not None and holiday.affordable
    assert result.recommended == holiday.option_id  # nothing else fits a month without income
    assert holiday.schedule[0].due_date == income_back
    assert_option_invariants(holiday, case, policy)


@st.composite
def seasonal_earners(draw) -> tuple[Case, Policy]:
    """Nothing left in the low season, a busy season of 2-5 months that leaves plenty."""
    as_of = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2032, 12, 31)))
    start = draw(st.integers(min_value=1, max_value=12))
    high = sorted({(start + k - 1) % 12 + 1 for k in range(draw(st.integers(min_value=2, max_value=5)))})
    case = Case.from_mapping(
        {
            "as_of": as_of.isoformat(),
            "loan": {
                "loan_id": "S",
                "product": "consumer_loan",
                "outstanding_principal": str(draw(st.integers(min_value=2_000, max_value=80_000))),
                "overdue_principal": "0",
                "annual_rate": "0.12",
                "monthly_payment": "1000",
                "remaining_term_months": 24,
                "days_past_due": 60,
                "next_due_date": as_of.isoformat(),
            },
            "finances": {
                "monthly_income": str(draw(st.integers(min_value=0, max_value=3_000))),
                "essential_expenses": "3000",
                "savings_available": "0",
                "income_kind": "seasonal",
                "high_income_months": {
                    "months": high,
                    "monthly_income": str(draw(st.integers(min_value=6_000, max_value=40_000))),
                },
                "outlook": "lasting",
            },
        }
    )
    return case, default_policy()


@given(seasonal_earners())
def test_a_seasonal_plan_pays_in_the_busy_months(scenario):
    case, policy = scenario
    option = next((o for o in build_options(case, policy) if o.structure is Structure.seasonal), None)
    assert option is not None
    assert_option_invariants(option, case, policy)
    high = case.finances.high_income_months.months
    assert {r.due_date.month for r in option.schedule} <= set(high)  # nothing due in the low season
    calendar, _ = grid(case, policy)
    busy = [d for d in calendar if d.month in high]
    if option.affordable:
        assert quote(case, policy).status is QuoteStatus.ok
    else:
        # Only when even every busy month of the term paid in full would not be enough.
        room = available(case, policy, case.finances.high_income_months.monthly_income)
        assert room * len(busy) < option.restructured_balance + option.total_interest


@given(scenarios())
def test_lender_rules_that_block_affordable_plans_need_approval_not_a_shortfall(scenario):
    case, policy = scenario
    blocked = case.model_copy(
        update={"loan": case.loan.model_copy(update={"prior_restructures": policy.replan_limit_12m})}
    )
    result = quote(blocked, policy)
    built = build_options(blocked, policy)
    if any(o.affordable for o in built):
        assert result.status is QuoteStatus.needs_approval and "replan_limit" in result.blocked_by
        assert result.monthly_shortfall == 0
    elif not built:  # (no structure the policy allows applies: a person must find one)
        assert result.status is QuoteStatus.needs_approval and result.blocked_by
    else:
        assert result.status is QuoteStatus.nothing_fits and result.monthly_shortfall > 0
