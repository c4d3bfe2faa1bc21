"""Properties every option the engine offers must have, for random loans, finances and
policies (hypothesis).

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
from decimal import Decimal as D

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plans.budget import Budget
from plans.dates import add_months
from plans.engine import build_options, custom_quote, offered_option, quote
from plans.errors import NoPlanPossible
from plans.models import Case, Option, Product, Structure
from plans.money import minor_unit
from plans.policy import Policy, default_policy

settings.register_profile(
    "quick", max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "long", max_examples=4000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
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
        "prior_restructures": draw(st.integers(min_value=0, max_value=3)),
        "on_time_payments_last_12": draw(st.one_of(st.none(), st.integers(min_value=0, max_value=12))),
    }


@st.composite
def finances(draw, currency: str) -> dict:
    income = draw(st.one_of(st.just(D(0)), amounts(currency, 0, 60_000)))
    data: dict = {
        "monthly_income": str(income),
        "income_kind": draw(st.sampled_from(["salary", "self_employed", "seasonal", "pension", "benefits", "none"])),
        "other_debt_payments": str(draw(st.one_of(st.just(D(0)), amounts(currency, 0, 5_000)))),
        "dependants": draw(st.integers(min_value=0, max_value=4)),
        "savings_available": str(draw(st.one_of(st.just(D(0)), amounts(currency, 0, 400_000)))),
        "hardship_reason": draw(st.sampled_from(
            ["job_loss", "income_drop", "illness", "family_emergency", "business_trouble",
             "over_indebted", "disaster", "payment_issue", "other"])),
        "outlook": draw(st.sampled_from(["temporary", "lasting", "unsure"])),
    }
    if draw(st.booleans()):
        data["essential_expenses"] = str(draw(amounts(currency, 0, 40_000)))
    else:
        categories = draw(st.lists(
            st.sampled_from(["housing", "food", "utilities_transport", "children", "medical", "other"]),
            unique=True, max_size=6))
        data["essential_expenses"] = {c: str(draw(amounts(currency, 0, 8_000))) for c in categories}
    if draw(st.booleans()):
        data["expected_recovery_months"] = draw(st.integers(min_value=0, max_value=120))
        data["income_after_recovery"] = str(draw(amounts(currency, 0, 80_000)))
    if draw(st.booleans()):
        months = draw(st.lists(st.integers(min_value=1, max_value=12), unique=True, min_size=1, max_size=11))
        data["high_income_months"] = {"months": months, "monthly_income": str(draw(amounts(currency, 0, 100_000)))}
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
        step_max_ratio=D(draw(st.integers(min_value=100, max_value=500))) / 100,
    )
    return Policy.model_validate(data)


@st.composite
def scenarios(draw) -> tuple[Case, Policy]:
    currency = draw(st.sampled_from(["CNY", "JPY"]))
    product = draw(st.sampled_from(list(Product)))
    as_of = draw(st.dates(min_value=date(2025, 1, 1), max_value=date(2032, 12, 31)))
    case = Case.from_mapping({
        "as_of": as_of.isoformat(),
        "loan": draw(loans(currency, product, as_of)),
        "finances": draw(finances(currency)),
    })
    use_default = draw(st.booleans())
    return case, (default_policy() if use_default else draw(policies(product)))


# ---------------------------------------------------------------- the invariants


def instalment_index_rows(option: Option):
    """(plan month index, row) for rows paid out of monthly income."""
    rows = [r for r in option.schedule if r.kind not in ("down_payment", "settlement")]
    return list(enumerate(rows))


def assert_option_invariants(option: Option, case: Case, policy: Policy) -> None:
    loan, rules = case.loan, policy.for_product(case.loan.product)
    unit = minor_unit(loan.currency)
    rows = option.schedule
    assert rows, option.option_id

    # Money adds up exactly.
    assert sum(r.principal for r in rows) == option.restructured_principal
    assert sum(r.fees for r in rows) == option.carried_fees
    assert sum(r.payment for r in rows) == option.total_repayable
    assert sum(r.interest for r in rows) == option.total_interest
    for r in rows:
        assert r.payment == r.principal + r.interest + r.fees, r
    assert option.total_repayable == option.restructured_principal + option.carried_fees + option.total_interest
    waived = option.penalties_waived + option.interest_waived + option.principal_waived
    assert option.restructured_principal + option.carried_fees + waived == loan.total_owed
    # The principal repaid is the loan's, plus capitalised interest, less any written off: a
    # down payment larger than the principal pays carried fees with the rest.
    assert option.restructured_principal == loan.principal + option.interest_capitalised - option.principal_waived
    assert all(r.principal >= 0 and r.fees >= 0 for r in rows if r.kind in ("down_payment", "settlement"))

    # Balances run down to zero and are never negative; each is the one before less what
    # the row repaid of principal and fees.
    owed = option.restructured_principal + option.carried_fees
    for r in rows:
        owed -= r.principal + r.fees
        assert r.balance == owed, r
        assert r.balance >= 0, r
    assert rows[-1].balance == 0
    # A payment below its month's interest makes the debt grow: the option must say so.
    rising = [r for r in rows if r.principal < 0]
    said = [r.params for r in option.reasons if r.key == "balance_rises"]
    assert said == ([{"payments": str(len(rising))}] if rising else []), option.option_id

    # Every amount is in the currency's minor unit (JPY: whole yen).
    for r in rows:
        for value in (r.payment, r.principal, r.interest, r.fees, r.balance):
            assert value == value.quantize(unit), (r, unit)
    for value in (option.total_repayable, option.total_interest, option.down_payment,
                  option.shortfall, option.penalties_waived, option.restructured_principal):
        assert value == value.quantize(unit)

    # Every payment is positive (no empty months in a schedule), except interest-only months
    # of a holiday at 0%, which are truly payment-free.
    assert all(r.payment > 0 for r in rows if r.kind != "interest_only"), [r for r in rows if r.payment <= 0]

    # Dates: strictly increasing; instalments monthly on the contract's due day (clamped),
    # the first at least the policy's minimum days after the as-of date.
    dates = [r.due_date for r in rows]
    assert all(a < b for a, b in zip(dates, dates[1:]))
    monthly = [r for _, r in instalment_index_rows(option)]
    if monthly:
        first = monthly[0].due_date
        assert first >= case.as_of + timedelta(days=policy.first_due_min_days)
        assert first - case.as_of < timedelta(days=policy.first_due_min_days + 32)
        day = loan.next_due_date.day
        for k, r in enumerate(monthly):
            assert r.due_date == add_months(first, k, day)
    for r in rows:
        if r.kind == "down_payment":
            assert r.due_date == case.as_of + timedelta(days=policy.down_payment_days)
            assert r.due_date < monthly[0].due_date
        if r.kind == "settlement":
            assert len(rows) == 1

    # Option id and numbers tell the truth about the schedule.
    assert option.option_id == f"{option.structure.value}-{len(option.instalments)}"
    assert option.down_payment == sum((r.payment for r in rows if r.kind == "down_payment"), D(0))

    # Affordability: an option called affordable fits every month's budget.
    budget = Budget(case.finances, policy.affordability)
    savings = case.finances.savings_available
    if option.affordable:
        assert option.shortfall == 0
        for k, r in instalment_index_rows(option):
            assert r.payment <= budget.affordable(k, r.due_date.month), (k, r)
        for r in rows:
            if r.kind == "settlement":
                assert r.payment <= savings
            if r.kind == "down_payment":
                assert r.payment <= savings + budget.affordable(0, monthly[0].due_date.month)
    else:
        assert option.shortfall > 0

    # Compliance checks measure what they claim.
    checks = {c.name: c for c in option.checks}
    instalments = option.instalments
    regular = [r.payment for r in instalments[:-1] if r.kind == "instalment"]
    assert checks["term"].passed == (len(instalments) <= rules.max_term_months)
    assert checks["apr_cap"].passed == (option.apr <= policy.apr_cap)
    assert checks["min_installment"].passed == all(p >= rules.min_installment for p in regular)
    assert checks["replan_limit"].passed == (loan.prior_restructures < policy.replan_limit_12m)
    assert checks["structure_allowed"].passed == (option.structure in rules.structures)
    if option.compliant:
        assert len(instalments) <= rules.max_term_months
        assert all(p >= rules.min_installment for p in regular)
        assert option.apr <= policy.apr_cap

    # A step-up plan never asks less than the month before.
    if option.structure is Structure.step_up:
        pays = [r.payment for r in instalments]
        assert all(a <= b for a, b in zip(pays, pays[1:])), pays

    # Interest-only months pay interest and nothing else; holidays only where allowed.
    if option.structure is Structure.holiday:
        held = [r for r in rows if r.kind == "interest_only"]
        assert 1 <= len(held) <= rules.holiday_max_months
        assert all(r.principal == 0 and r.fees == 0 for r in held)

    # The cost is honest: nothing repaid beyond what is owed means no positive APR.
    assert option.effective_annual_rate >= option.apr - D("1e-8") or option.apr < 0
    if option.total_interest == 0:
        assert option.apr == 0


def assert_quote_invariants(result, case: Case, policy: Policy) -> None:
    ids = [o.option_id for o in result.options]
    assert len(ids) == len(set(ids)) and len(ids) <= 4
    assert all(o.compliant for o in result.options)
    assert result.any_affordable == any(o.affordable for o in result.options)
    if result.any_affordable:
        assert result.recommended == next(o.option_id for o in result.options if o.affordable)
        assert result.monthly_shortfall == 0
        flags_expected = set()
    else:
        assert result.recommended is None
        assert {"no_affordable_plan", "offer_person"} <= set(result.flags)
        shortfalls = [o.shortfall for o in result.options]
        assert shortfalls == sorted(shortfalls)
        if result.options:
            assert result.monthly_shortfall == min(shortfalls).quantize(minor_unit(case.loan.currency))
        flags_expected = {"no_affordable_plan"}
    assert flags_expected <= set(result.flags)
    assert ("replan_limit_reached" in result.flags) == (case.loan.prior_restructures >= policy.replan_limit_12m)
    # Affordable options come first.
    seen_unaffordable = False
    for option in result.options:
        seen_unaffordable |= not option.affordable
        assert not (seen_unaffordable and option.affordable)


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
    for option in result.options:
        assert_option_invariants(option, case, policy)
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


@given(scenarios(), st.integers(min_value=1, max_value=480))
def test_custom_by_months_keeps_the_invariants(scenario, months):
    case, policy = scenario
    rules = policy.for_product(case.loan.product)
    try:
        option = custom_quote(case, policy, months=months)
    except NoPlanPossible as exc:
        assert exc.key == "custom_months_out_of_range"
        assert months > rules.max_term_months
        return
    assert months <= rules.max_term_months
    assert len(option.instalments) == months
    assert_option_invariants(option, case, policy)


@given(scenarios(), st.integers(min_value=1, max_value=2_000_000))
def test_custom_by_amount_is_the_shortest_term_at_or_under_the_amount(scenario, amount):
    case, policy = scenario
    unit = minor_unit(case.loan.currency)
    amount = D(amount) * unit * CURRENCY_SCALE[case.loan.currency]
    try:
        option = custom_quote(case, policy, monthly_amount=amount)
    except NoPlanPossible as exc:
        assert exc.key in {"custom_below_minimum", "custom_amount_too_low"}
        return
    assert_option_invariants(option, case, policy)
    instalments = option.instalments
    # Every payment but the last (which clears the rounding residue) is at most the amount.
    assert all(r.payment <= amount for r in instalments[:-1])
    if len(instalments) > 1:
        shorter = custom_quote(case, policy, months=len(instalments) - 1)
        assert shorter.instalments[0].payment > amount - unit
