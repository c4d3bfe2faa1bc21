"""Edge cases of the plan engine: odd amounts, odd calendars, odd borrowers, odd requests, and
the errors that bad policies and bad cases must raise."""

from __future__ import annotations

import copy
from datetime import date
from decimal import Decimal as D
from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from plan_cases import CARD, case, policy
from plans.context import Context
from plans.engine import build_options, custom_quote, quote
from plans.errors import CaseError, NoPlanPossible, PolicyError
from plans.models import Case, Finances, Loan, Structure, regular_payments, regular_range
from plans.money import minor_unit
from plans.policy import DEFAULT_POLICY_PATH, Policy, default_policy, load_policy, parse_policy
from plans.schedule import Basis, equal_principal_rows
from plans.structures import interest_freeze, level, settlement


def no_arrears(**changes) -> Case:
    base = dict(loan__overdue_principal="0", loan__overdue_interest="0", loan__penalty_fees="0")
    return case(**{**base, **changes})


def assert_exact(option) -> None:
    assert sum(r.principal for r in option.schedule) == option.restructured_principal
    assert all(r.payment == r.principal + r.interest + r.fees for r in option.schedule)
    assert option.schedule[-1].balance == 0


# ---------------------------------------------------------------- amounts and terms


def test_zero_interest_loan_has_no_interest_and_zero_apr():
    c = no_arrears(loan__annual_rate="0", loan__outstanding_principal="12000")
    options = build_options(c, default_policy())
    assert options
    for option in options:
        assert option.total_interest == 0
        assert all(row.interest == 0 for row in option.schedule)
        assert option.apr == 0 and option.effective_annual_rate == 0
        assert option.total_repayable == option.restructured_principal + option.carried_fees
        assert_exact(option)
    lv = level(Context(c, default_policy()))
    # 2,400 affordable a month: 12,000 at 0% is five payments of 2,400.
    assert [r.payment for r in lv.schedule] == [D("2400.00")] * 5


def test_balance_below_the_minimum_instalment_is_one_payment():
    c = no_arrears(loan__outstanding_principal="80", finances__savings_available="0")
    result = quote(c, default_policy())
    assert result.options and result.any_affordable
    for option in result.options:
        assert len(option.instalments) == 1  # (an interest freeze adds its down payment)
        row = option.schedule[-1]
        assert row.principal + option.down_payment == D("80") and row.balance == 0
        assert row.payment < default_policy().for_product(c.loan.product).min_installment
        assert option.compliant  # the last (only) payment may be below the minimum


def test_one_month_term_clears_everything_in_one_row():
    c = case()
    option = custom_quote(c, default_policy(), months=1)
    (row,) = option.schedule
    owed = option.restructured_principal + option.carried_fees
    assert row.principal + row.fees == owed
    assert row.interest > 0 and row.balance == 0
    assert option.option_id == "custom-1"


def test_480_month_mortgage_is_a_span_from_the_agreement():
    c = no_arrears(
        loan__product="mortgage",
        loan__outstanding_principal="1500000",
        loan__annual_rate="0.045",
        finances__monthly_income="30000",
        finances__essential_expenses="8000",
        finances__other_debt_payments="0",
    )
    p = default_policy()
    # As of 28 Nov 2026 the first payment is on 5 Jan 2027 (38 days out): 480 months from the
    # agreement end on 28 Nov 2066, so the 5 Dec 2066 payment would be too late: 479 payments.
    with pytest.raises(NoPlanPossible) as err:
        custom_quote(c, p, months=480)
    assert err.value.key == "custom_months_out_of_range" and err.value.params["maximum"] == 479
    option = custom_quote(c, p, months=479)
    assert len(option.schedule) == 479
    assert option.plan_rate == D("0.02")  # mortgage policy reduces the rate to its 2% floor
    assert option.schedule[0].due_date == date(2027, 1, 5)
    assert option.schedule[-1].due_date == date(2066, 11, 5)
    assert_exact(option)
    regular = {r.payment for r in option.schedule[:-1]}
    assert len(regular) == 1
    assert abs(option.schedule[-1].payment - regular.pop()) < D("5")
    # APR on the actual dates: the 38-day first period is charged as such, so about the rate.
    assert abs(option.apr - D("0.02")) < D("0.0001")
    # The quote's options for it end within the 480-month span.
    for o in quote(c, p).options:
        assert o.last_due_date <= date(2066, 11, 28)


def test_equal_principal_parts_stay_within_a_cent_over_480_months():
    b = Basis(D("1000000"), D("999.99"), D("0.03"), "CNY", date(2026, 1, 5), date(2026, 2, 5), 5)
    rows = equal_principal_rows(b, 480)
    assert [r.number for r in rows] == list(range(1, 481))
    assert sum(r.principal for r in rows) == D("1000000") and sum(r.fees for r in rows) == D("999.99")
    assert all(abs(r.principal - D(1000000) / 480) < D("0.01") for r in rows)
    assert all(abs(r.fees - D("999.99") / 480) < D("0.01") for r in rows)
    assert rows[-1].balance == 0


# ---------------------------------------------------------------- calendars


def test_due_day_31_clamps_to_month_end_and_comes_back():
    c = case(as_of="2027-12-10", loan__next_due_date="2026-12-31")
    option = custom_quote(c, default_policy(), months=8)
    assert [r.due_date.isoformat() for r in option.schedule] == [
        "2027-12-31",
        "2028-01-31",
        "2028-02-29",
        "2028-03-31",
        "2028-04-30",
        "2028-05-31",
        "2028-06-30",
        "2028-07-31",
    ]
    assert_exact(option)


def test_due_day_31_in_a_common_year_february_is_the_28th():
    c = case(as_of="2026-12-20", loan__next_due_date="2026-12-31")
    option = custom_quote(c, default_policy(), months=4)
    assert [r.due_date.isoformat() for r in option.schedule] == ["2027-01-31", "2027-02-28", "2027-03-31", "2027-04-30"]
    # Every month after the first is one whole period: interest follows the balance alone.
    rate = option.plan_rate / 12
    for before, row in pairwise(option.schedule):
        principal_before = before.balance - sum(r.fees for r in option.schedule[option.schedule.index(row) :])
        assert row.interest == (principal_before * rate).quantize(D("0.01"))


def test_leap_day_is_a_due_date_and_the_broken_first_period_is_charged_by_days():
    c = case(as_of="2028-01-10", loan__next_due_date="2026-12-29")
    option = custom_quote(c, default_policy(), months=3)
    assert [r.due_date for r in option.schedule] == [date(2028, 1, 29), date(2028, 2, 29), date(2028, 3, 29)]
    principal = option.restructured_principal
    monthly = option.plan_rate / 12
    # 10 Jan -> 29 Jan is 19 of January's 31 days.
    assert option.schedule[0].interest == (principal * monthly * D(19) / D(31)).quantize(D("0.01"))


def test_first_due_date_respects_the_minimum_days():
    # As of the 28th with due day 5: the 5th of next month is only 7 days away, so the month after.
    c = case()
    option = custom_quote(c, default_policy(), months=2)
    assert c.as_of == date(2026, 11, 28)
    assert option.schedule[0].due_date == date(2027, 1, 5)


# ---------------------------------------------------------------- currencies


def test_zero_decimal_currency_jpy():
    c = case(
        loan__currency="JPY",
        loan__outstanding_principal="840000",
        loan__overdue_principal="120000",
        loan__overdue_interest="29006",
        loan__penalty_fees="16400",
        loan__monthly_payment="64000",
        finances__monthly_income="180000",
        finances__essential_expenses="104000",
        finances__other_debt_payments="16000",
        finances__savings_available="60000",
        finances__income_after_recovery="240000",
    )
    result = quote(c, default_policy())
    assert result.currency == "JPY" and result.options
    assert result.affordable_payment == result.affordable_payment.to_integral_value()
    for option in result.options + build_options(c, default_policy()):
        assert_exact(option)
        for row in option.schedule:
            for value in (row.payment, row.principal, row.interest, row.fees, row.balance):
                assert value == value.to_integral_value(), row
        assert option.total_repayable == option.total_repayable.to_integral_value()


def test_whole_yen_rounding_over_a_long_term_leaves_no_empty_month():
    """Found by the long hypothesis profile: 410 yen a month (409.6 rounded up) repaid a
    30-year plan two months early, and a 1-yen fee, whose monthly part rounds to nothing, was
    left for the last month: month 369 asked for 0 yen. Now rounded down, the last pays the rest."""
    c = case(
        as_of="2025-01-01",
        loan__currency="JPY",
        loan__product="consumer_loan",
        loan__outstanding_principal="40000",
        loan__overdue_principal="0",
        loan__overdue_interest="0",
        loan__penalty_fees="1",
        loan__annual_rate="0.1198",
        loan__monthly_payment="2000",
        loan__next_due_date="2025-01-01",
        finances__hardship_reason="job_loss",
    )
    rules = policy(
        "consumer_loan",
        max_term_months=370,
        min_installment="0",
        interest="keep",
        structures=["level", "custom"],
        capitalise_overdue_interest=False,
        top__penalty_waiver={"default": "0", "by_reason": {}},
        top__apr_cap="0.24",
    )
    option = custom_quote(c, rules, months=370)
    assert_exact(option)
    assert len(option.schedule) == 370 and all(r.payment > 0 for r in option.schedule)
    assert {r.payment for r in option.schedule[:-1]} == {D("409")}
    assert sum(r.fees for r in option.schedule) == 1  # (the fee is paid when half the plan is)


def test_jpy_amount_with_sen_is_refused():
    with pytest.raises(CaseError) as err:
        case(loan__currency="JPY", loan__overdue_interest="1450.30")
    assert err.value.field == "loan.overdue_interest"
    assert "JPY" in str(err.value)


def test_cny_amount_with_three_decimals_is_refused():
    with pytest.raises(CaseError) as err:
        case(loan__outstanding_principal="42000.123")
    assert err.value.field == "loan.outstanding_principal"


# ---------------------------------------------------------------- borrowers


def test_no_disposable_income_gives_no_affordable_plan():
    # (No income back expected either: with a recovery a payment holiday would fit.)
    c = case(finances__monthly_income="6000", finances__savings_available="0", finances__expected_recovery_months=0)
    assert c.finances.disposable_income == 0
    result = quote(c, default_policy())
    assert not result.any_affordable and result.recommended is None
    assert {"no_affordable_plan", "offer_person", "hardship_review", "no_disposable_income"} <= set(result.flags)
    assert result.status == "nothing_fits" and result.monthly_shortfall > 0
    assert result.closest.to_pay - result.closest.available == result.monthly_shortfall
    assert result.options, "the closest options are still shown"
    shortfalls = [o.shortfall for o in result.options]
    assert shortfalls == sorted(shortfalls)
    assert result.monthly_shortfall == shortfalls[0]
    assert all(not o.affordable and o.shortfall > 0 for o in result.options)


def test_negative_disposable_income_is_the_same():
    c = case(finances__monthly_income="3000", finances__savings_available="0", finances__expected_recovery_months=0)
    assert c.finances.disposable_income < 0
    result = quote(c, default_policy())
    assert not result.any_affordable
    assert "no_disposable_income" in result.flags and result.monthly_shortfall > 0


def test_settlement_needs_enough_savings():
    p = default_policy()
    owed = case().loan.total_owed  # 50,270.30
    needed = (owed * D("0.70")).quantize(D("0.01"))  # 30% discount at most, 60% share at least
    assert settlement(Context(case(finances__savings_available=str(needed - D("0.01"))), p)) is None
    option = settlement(Context(case(finances__savings_available=str(needed)), p))
    assert option is not None
    (row,) = option.schedule
    assert row.kind == "settlement" and row.payment == needed
    assert option.affordable


def test_settlement_waives_penalties_then_interest_then_principal():
    p = default_policy()
    c = case(finances__savings_available="100000")
    option = settlement(Context(c, p))
    discount = c.loan.total_owed - option.total_repayable
    assert D(option.parameters["discount"]) == discount == D("15081.09")
    assert option.penalties_waived == c.loan.penalty_fees  # 820 first
    assert option.interest_waived == c.loan.overdue_interest  # then 1,450.30
    assert option.principal_waived == discount - D("820") - D("1450.30")
    assert option.apr == 0 and option.total_interest == 0

    # A small discount touches only the penalties.
    q = policy(settlement_max_discount=D("0.01"), settlement_min_share=D("0.5"))
    small = settlement(Context(c, q))
    assert small.penalties_waived == (c.loan.total_owed * D("0.01")).quantize(D("0.01"))
    assert small.interest_waived == 0 and small.principal_waived == 0


def test_down_payment_larger_than_the_principal_pays_fees_with_the_rest():
    # 300 of principal and 4,000 of kept penalties: the 10% down payment (430) clears the
    # principal and pays 130 of the fees; it does not turn fees into principal.
    c = no_arrears(loan__outstanding_principal="300", loan__penalty_fees="8000", finances__hardship_reason="other")
    option = interest_freeze(Context(c, default_policy()))
    down = option.schedule[0]
    assert down.kind == "down_payment" and down.payment == D("430.00")
    assert down.principal == D("300.00") and down.fees == D("130.00")
    assert option.restructured_principal == D("300") and option.carried_fees == D("4000.00")
    assert sum(r.principal for r in option.schedule) == D("300")
    assert sum(r.fees for r in option.schedule) == D("4000.00")
    assert all(r.principal == 0 for r in option.schedule[1:])


def test_settlement_is_not_offered_for_products_that_do_not_allow_it():
    c = case(loan__product="auto_loan", finances__savings_available="100000")
    structures = {o.structure for o in build_options(c, default_policy())}
    assert Structure.settlement not in structures


# ---------------------------------------------------------------- custom requests


def test_custom_by_amount_takes_the_shortest_term_under_it():
    c = case()
    p = default_policy()
    option = custom_quote(c, p, monthly_amount=D("3000"))
    assert option.structure is Structure.custom
    assert option.parameters == {"monthly_amount": "3000", "months": str(len(option.schedule))}
    assert all(r.payment <= D("3000") for r in option.schedule[:-1])
    shorter = custom_quote(c, p, months=len(option.schedule) - 1)
    assert shorter.schedule[0].payment > D("3000")
    assert_exact(option)


def test_custom_by_months():
    option = custom_quote(case(), default_policy(), months=24)
    assert len(option.schedule) == 24 and option.option_id == "custom-24"
    assert len({r.payment for r in option.schedule[:-1]}) == 1
    assert_exact(option)


@pytest.mark.parametrize(
    "request_, key, params",
    [
        ({"monthly_amount": D("50")}, "custom_below_minimum", {"minimum": D("100")}),
        # As of 28 Nov with the first payment on 5 Jan, 60 months from the agreement hold 59.
        ({"monthly_amount": D("200")}, "custom_amount_too_low", {"months": 59}),
        ({"monthly_amount": D("0")}, "custom_amount_invalid", {}),
        ({"months": 60}, "custom_months_out_of_range", {"maximum": 59}),
        ({"months": 0}, "custom_months_out_of_range", {"maximum": 59}),
    ],
)
def test_custom_requests_that_cannot_be_met(request_, key, params):
    with pytest.raises(NoPlanPossible) as err:
        custom_quote(case(), default_policy(), **request_)
    assert err.value.key == key
    for name, value in params.items():
        assert err.value.params[name] == value


def test_custom_amount_too_low_names_a_minimum_that_works():
    c, p = case(), default_policy()
    with pytest.raises(NoPlanPossible) as err:
        custom_quote(c, p, monthly_amount=D("500"))
    minimum = err.value.params["minimum"]
    option = custom_quote(c, p, monthly_amount=minimum)
    assert len(option.schedule) == 59
    with pytest.raises(NoPlanPossible):
        custom_quote(c, p, monthly_amount=minimum - D("0.01"))


def test_custom_below_minimum_is_allowed_when_it_clears_the_debt():
    c = no_arrears(loan__outstanding_principal="60")
    option = custom_quote(c, default_policy(), monthly_amount=D("70"))
    assert len(option.schedule) == 1 and option.schedule[0].payment <= D("70")


# ---------------------------------------------------------------- history and policy


def test_replan_limit_reached():
    c = case(loan__prior_restructures=2)
    p = default_policy()
    options = build_options(c, p)
    assert options
    for option in options:
        check = next(ch for ch in option.checks if ch.name == "replan_limit")
        assert not check.passed and check.value == "2" and check.limit == "2"
        assert not option.compliant
    result = quote(c, p)
    assert "replan_limit_reached" in result.flags and "offer_person" in result.flags
    assert result.options == [] and result.recommended is None
    # Plans fit the budget: a person must approve one; nothing is "short".
    assert result.status == "needs_approval" and result.blocked_by == ["replan_limit"]
    assert result.monthly_shortfall == 0 and "no_affordable_plan" not in result.flags
    assert result.for_approval and all(o.affordable for o in result.for_approval)


def test_one_restructure_below_the_limit_is_fine():
    result = quote(case(loan__prior_restructures=1), default_policy())
    assert "replan_limit_reached" not in result.flags and result.recommended


def test_apr_cap_filters_ranked_options_when_the_policy_wants_approval():
    c = no_arrears(loan__annual_rate="0.18")
    p = policy(interest="keep", top__apr_cap=D("0.10"), top__above_apr_cap="needs_approval")
    built = build_options(c, p)
    assert any(o.apr > D("0.10") for o in built)
    ranked = quote(c, p).options
    assert ranked and all(o.apr <= D("0.10") for o in ranked)
    assert {o.structure for o in ranked} <= {Structure.interest_freeze, Structure.settlement}


def test_apr_cap_brings_the_rate_down_when_the_policy_allows():
    c = no_arrears(loan__annual_rate="0.18")
    p = policy(interest="keep", top__apr_cap=D("0.10"))
    result = quote(c, p)
    assert result.status == "ok" and len(result.options) >= 3
    for option in result.options:
        assert option.apr <= D("0.10") and option.compliant
        if option.plan_rate > 0:
            assert D("0.098") < option.plan_rate <= D("0.10")
            assert {"key": "rate_capped", "cap": "0.10"} in [{"key": r.key, **r.params} for r in option.reasons]


# ---------------------------------------------------------------- invalid policies


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return path


def default_text() -> str:
    return DEFAULT_POLICY_PATH.read_text(encoding="utf-8")


def test_the_shipped_policy_loads():
    p = load_policy(DEFAULT_POLICY_PATH)
    assert p.apr_cap == D("0.24")
    assert p.for_product(case().loan.product).max_term_months == 60


def test_bad_toml_names_the_file(tmp_path):
    path = write(tmp_path, "apr_cap = = 0.2\n")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert str(path) in str(err.value) and "not valid TOML" in str(err.value)


def test_unknown_key_is_named(tmp_path):
    path = write(tmp_path, default_text().replace("apr_cap = 0.24", "apr_cap = 0.24\naprcap = 0.3"))
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert f"{path}: aprcap:" in str(err.value)


def test_unknown_key_in_a_product_is_named(tmp_path):
    text = default_text().replace("[products.mortgage]\n", "[products.mortgage]\nmax_terms = 12\n")
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert "products.mortgage.max_terms" in str(err.value)


def test_negative_value_is_named(tmp_path):
    text = default_text().replace("min_income_left = 300", "min_income_left = -300")
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert f"{path}: affordability.min_income_left:" in str(err.value)
    assert "greater than or equal to 0" in str(err.value)


def test_credit_card_term_over_five_years_is_unlawful_in_china(tmp_path):
    text = default_text().replace(
        "[products.credit_card]\nmax_term_months = 60", "[products.credit_card]\nmax_term_months = 72"
    )
    assert "max_term_months = 72" in text
    path = write(tmp_path, text)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert str(path) in str(err.value)
    assert "products.credit_card.max_term_months" in str(err.value) and "60" in str(err.value)
    # Elsewhere the same term is a matter for the lender.
    allowed = parse_policy(text.replace('jurisdiction = "CN"', 'jurisdiction = "GB"'), "gb.toml")
    assert allowed.for_product(case().loan.product).max_term_months == 72


def test_down_payment_after_the_first_instalment_is_refused():
    text = default_text().replace("down_payment_days = 7", "down_payment_days = 20")
    with pytest.raises(PolicyError) as err:
        parse_policy(text, "late.toml")
    assert "late.toml" in str(err.value) and "down_payment_days" in str(err.value)


def test_missing_policy_file(tmp_path):
    with pytest.raises(PolicyError) as err:
        load_policy(tmp_path / "nope.toml")
    assert "nope.toml" in str(err.value) and "cannot read" in str(err.value)


def test_product_missing_from_the_policy():
    data = default_policy().model_dump()
    del data["products"]["mortgage"]
    p = Policy.model_validate(data)
    with pytest.raises(PolicyError) as err:
        quote(case(loan__product="mortgage"), p)
    assert "products.mortgage" in str(err.value)


# ---------------------------------------------------------------- invalid cases


@pytest.mark.parametrize(
    "data_change, field",
    [
        (lambda d: d["loan"].update(outstanding_principal=42000.5), "loan.outstanding_principal"),
        (lambda d: d["finances"].update(monthly_income=9000.0), "finances.monthly_income"),
        (lambda d: d["loan"].update(penalty_fees="-1"), "loan.penalty_fees"),
        (lambda d: d["finances"].update(savings_available="-0.01"), "finances.savings_available"),
        (lambda d: d["loan"].update(product="payday"), "loan.product"),
        (lambda d: d["loan"].pop("annual_rate"), "loan.annual_rate"),
        (lambda d: d["finances"].pop("monthly_income"), "finances.monthly_income"),
        (lambda d: d.pop("as_of"), "as_of"),
        (lambda d: d["loan"].update(next_due_date="2026-02-30"), "loan.next_due_date"),
        (lambda d: d["loan"].update(color="red"), "loan.color"),
        (lambda d: d.update(extra=1), "extra"),
        (
            lambda d: (
                d["finances"]["high_income_months"].update(months=[13])
                if "high_income_months" in d["finances"]
                else d["finances"].update(high_income_months={"months": [13], "monthly_income": "1"})
            ),
            "finances.high_income_months.months.0",
        ),
    ],
)
def test_invalid_case_names_the_field(data_change, field):
    data = copy.deepcopy(CARD)
    data_change(data)
    with pytest.raises(CaseError) as err:
        Case.from_mapping(data)
    assert err.value.field == field
    assert str(err.value).startswith(f"{field}: ")


def test_float_amount_message_says_why():
    data = copy.deepcopy(CARD)
    data["loan"]["outstanding_principal"] = 42000.5
    with pytest.raises(CaseError) as err:
        Case.from_mapping(data)
    assert "float" in err.value.message


def test_nothing_owed_is_refused():
    with pytest.raises(CaseError) as err:
        no_arrears(loan__outstanding_principal="0")
    assert err.value.field == "loan" and "nothing is owed" in err.value.message


def test_case_must_be_an_object():
    with pytest.raises(CaseError) as err:
        Case.from_mapping([1, 2, 3])
    assert err.value.field is None and "JSON object" in str(err.value)


_OWED = [
    "outstanding_principal",
    "overdue_principal",
    "overdue_interest",
    "penalty_fees",
    "carried_fees",
    "monthly_payment",
]
_AMOUNT_TEXTS = st.one_of(
    st.builds(lambda units, places: str(D(units).scaleb(-places)), st.integers(0, 10**12), st.integers(0, 5)),
    st.builds(
        lambda text, zeros: text + "0" * zeros,
        st.from_regex(r"[0-9]{1,6}\.[0-9]{1,3}", fullmatch=True),
        st.integers(0, 3),
    ),
    st.builds(lambda digits, exponent: f"{digits}E{exponent}", st.integers(0, 99999), st.integers(-6, 4)),
)


@settings(max_examples=300, deadline=None)
@given(text=_AMOUNT_TEXTS, currency=st.sampled_from(["CNY", "JPY", "KWD"]), column=st.sampled_from(_OWED))
def test_an_amount_owed_is_accepted_exactly_when_it_is_payable(text, currency, column):
    """Every amount owed on a loan, however written (`1.500`, `2E-2`, `1000`), is accepted
    exactly when it is a whole number of the currency's minor units; the refusal names it."""
    amount = D(text)
    payable = amount == amount.quantize(minor_unit(currency))
    loan = {**CARD["loan"], "currency": currency, **dict.fromkeys(_OWED, "100"), column: text}
    try:
        accepted = Loan.model_validate(loan)
    except ValidationError as exc:
        assert not payable
        [error] = exc.errors()
        assert (error["loc"], error["msg"]) == (
            (column,),
            f"Value error, has more decimal places than {currency} allows",
        )
    else:
        assert payable and getattr(accepted, column) == amount


_PYDANTIC_DECIMAL = TypeAdapter(D)
_DECIMAL_LIKE_TEXT = st.one_of(
    st.text(alphabet="0123456789.-+eE_ naNIinfty\u0660\uff11", max_size=14),
    st.from_regex(r"[0-9]{1,40}(\.[0-9]{0,40})?", fullmatch=True),
)


def _whole_fen(amount: D) -> bool:
    """Told from the digits (no context precision to round them): trailing zeros dropped,
    at most 2 places remain."""
    _, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)
    places = -exponent - (len(digits) - len("".join(map(str, digits)).rstrip("0") or "0"))
    return places <= 2 or not any(digits)


@settings(max_examples=500, deadline=None)
@example(value="10000000000000000000000000.001")  # 29 digits: was rounded to 28, then "payable" (found)
@given(value=st.one_of(_DECIMAL_LIKE_TEXT, st.integers(-(10**20), 10**20), st.booleans(), st.none()))
def test_amounts_are_read_exactly_as_pydantic_reads_decimals(value):
    """The shortcut for plain text (`12345.67`) and the general path read every input as
    pydantic's own Decimal does: the same value, or the same refusal; then an amount must
    not be negative, and an amount owed must be payable in its currency."""
    try:
        expected = _PYDANTIC_DECIMAL.validate_python(value)
    except ValidationError as exc:
        expected = exc.errors()[0]["msg"]
    for model, data, column in (
        (Finances, {"monthly_income": value}, "monthly_income"),
        (Loan, {**CARD["loan"], "penalty_fees": value}, "penalty_fees"),
    ):
        try:
            got = getattr(model.model_validate(data), column)
        except ValidationError as exc:
            got = exc.errors()[0]["msg"]
        if isinstance(expected, D) and expected < 0:
            assert got == "Value error, must not be negative"
        elif isinstance(expected, D) and model is Loan and not _whole_fen(expected):
            assert got == "Value error, has more decimal places than CNY allows"
        else:
            assert got == expected and str(got) == str(expected)  # the same digits, not just equal


def test_regular_payments_leave_out_a_down_payment_unless_it_is_the_only_payment():
    schedule = [("down_payment", D("500.00")), ("instalment", D("200.00")), ("instalment", D("199.98"))]
    assert regular_payments(schedule) == [D("200.00"), D("199.98")]
    assert regular_range(schedule, "CNY") == (D("200.00"), D("200.00"))  # the last carries the residue
    assert regular_payments([("down_payment", D("500.00"))]) == [D("500.00")]
    assert regular_range([("down_payment", D("500.00"))], "CNY") == (D("500.00"), D("500.00"))
