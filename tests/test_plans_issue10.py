"""Issue 10, "Plans a borrower can trust": each example of the issue (and of the README case),
as the engine must now answer it. Every test here failed on the engine before the fix; the
rules themselves are tested over generated cases in test_plans_properties.py."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest

from plan_cases import case, policy
from plan_oracle import fits_every_month, month_gaps, npv_at_apr
from plans.engine import budget_of, build_options, custom_quote, offered_option, quote
from plans.errors import CaseError, NoPlanPossible
from plans.models import Case, Structure
from plans.payments import ScheduledPart, loan_left_by_plan
from plans.policy import default_policy

#: The issue's card: 9,000 outstanding and 1,000 overdue at 18%, due on the 20th, as of
#: 1 Nov 2026; income 9,000, essentials 5,200, other debts 800, no savings, a temporary job loss.
ISSUE_CARD = {
    "as_of": "2026-11-01",
    "loan": {
        "loan_id": "CC-9000",
        "product": "credit_card",
        "outstanding_principal": "9000",
        "overdue_principal": "1000",
        "annual_rate": "0.18",
        "monthly_payment": "900",
        "remaining_term_months": 12,
        "days_past_due": 45,
        "next_due_date": "2026-11-20",
    },
    "finances": {
        "monthly_income": "9000",
        "essential_expenses": "5200",
        "other_debt_payments": "800",
        "savings_available": "0",
        "hardship_reason": "job_loss",
        "outlook": "temporary",
    },
}


def in_month(option, year: int, month: int) -> D:
    return sum((r.payment for r in option.schedule if (r.due_date.year, r.due_date.month) == (year, month)), D(0))


# ---------------------------------------------------------------- 1. every month affordable


def test_the_issue_card_never_asks_more_in_november_than_november_allows():
    """Before: the interest-freeze plan was marked affordable and asked 1,000.00 on 8 Nov plus
    2,250.00 on 20 Nov: 3,250 in November against 2,400 allowed."""
    c, p = case(ISSUE_CARD), default_policy()
    assert budget_of(c, p).now.available == D("2400.00")
    options = build_options(c, p)
    freeze = next(o for o in options if o.structure is Structure.interest_freeze)
    assert freeze.down_payment == D("1000.00") and freeze.schedule[0].due_date == date(2026, 11, 8)
    assert in_month(freeze, 2026, 11) <= D("2400.00")
    assert freeze.affordable and fits_every_month(freeze, c, p)
    for option in options:
        assert option.affordable == fits_every_month(option, c, p)
        if option.affordable:
            assert in_month(option, 2026, 11) <= D("2400.00")


def test_a_down_payment_above_savings_and_the_first_months_allowance_is_not_affordable():
    # The README case without savings: a 4,945.03 down payment in December, 2,400 allowed.
    c = case(finances__savings_available="0")
    freeze = next(o for o in build_options(c, default_policy()) if o.structure is Structure.interest_freeze)
    assert freeze.down_payment == D("4945.03")
    assert not freeze.affordable and freeze.shortfall == D("2545.03")
    assert freeze.tightest.month == "2026-12" and freeze.tightest.available == D("2400.00")


def test_savings_pay_the_earliest_payments_once():
    # With 3,000 of savings the same down payment leaves 1,945.03 to December's income: it fits.
    c = case()
    freeze = next(o for o in build_options(c, default_policy()) if o.structure is Structure.interest_freeze)
    assert freeze.affordable
    december = next(g for (key, g) in month_gaps(freeze, c, default_policy()) if key == (2026, 12))
    assert december == D("1945.03") - D("2400.00")
    assert freeze.tightest.month != "2026-12" or freeze.tightest.savings_used == D("3000")


def test_a_fall_in_income_is_dated_from_today_not_from_the_first_payment():
    """As of 28 Nov the income falls "in about a month" (28 Dec); the first payment is on 5
    Jan, after the fall: it must fit the lower income. Before, the step-down plan asked the
    old budget's 2,400 in January."""
    c = case(
        finances__income_after_recovery="7000",
        finances__expected_recovery_months=1,
        finances__outlook="lasting",
        finances__savings_available="0",
    )
    p = default_policy()
    assert budget_of(c, p).later.available == D("400.00")  # 1,000 left, less 600 kept for two
    options = build_options(c, p)
    assert options and all(
        o.schedule[0].due_date == date(2027, 1, 5) for o in options if o.structure is not Structure.interest_freeze
    )
    for option in options:
        assert option.affordable == fits_every_month(option, c, p)
        if option.affordable:
            assert in_month(option, 2027, 1) <= D("400.00")
    assert Structure.step_down not in {o.structure for o in options}  # no month before the fall to step from


# ---------------------------------------------------------------- 2. lawful on every path


def auto_loan_at_30_percent() -> Case:
    return case(
        loan__product="auto_loan",
        loan__annual_rate="0.30",
        loan__penalty_fees="0",
        loan__overdue_interest="0",
        finances__monthly_income="20000",
    )


def test_a_custom_plan_over_the_apr_cap_is_brought_to_the_cap_or_refused():
    """Before: "I can pay 4,000" at a contract rate of 30% recorded a plan at APR 30.01%."""
    c = auto_loan_at_30_percent()
    capped = custom_quote(c, default_policy(), monthly_amount=D("4000"))
    assert capped.compliant and capped.apr <= D("0.24")
    assert "rate_capped" in [r.key for r in capped.reasons]
    strict = policy(top__above_apr_cap="needs_approval")
    with pytest.raises(NoPlanPossible) as err:
        custom_quote(c, strict, monthly_amount=D("4000"))
    assert err.value.key == "custom_not_allowed" and err.value.params["rules"] == "apr_cap"
    (reason,) = err.value.reasons
    assert reason.key == "apr_cap" and reason.params["limit"] == "0.24" and D(reason.params["value"]) > D("0.29")


def test_a_custom_amount_over_the_budget_is_never_affordable_and_says_what_is_available():
    c = case(finances__savings_available="0")  # 2,400 available a month
    option = custom_quote(c, default_policy(), monthly_amount=D("6300"))  # 2.6 times it
    assert not option.affordable and option.shortfall > 0
    over = next(r for r in option.reasons if r.key == "over_budget")
    assert over.params["available"] == "2400.00" and over.params["month"] == "2027-01"
    assert D("2400") < D(over.params["asked"]) <= D("6300")


def test_the_five_year_limit_is_a_span_from_the_agreement():
    """A 60-payment card plan whose first payment is 38 days out ends 5 years and 7 days
    after the agreement: refused; 59 payments are the most."""
    c, p = (
        case(finances__monthly_income="4000", finances__essential_expenses="2000", finances__other_debt_payments="0"),
        default_policy(),
    )
    assert (date(2027, 1, 5) - c.as_of).days == 38
    with pytest.raises(NoPlanPossible) as err:
        custom_quote(c, p, months=60)
    assert err.value.key == "custom_months_out_of_range" and err.value.params["maximum"] == 59
    assert custom_quote(c, p, months=59).last_due_date == date(2031, 11, 5)
    for option in build_options(c, p):
        assert option.last_due_date <= date(2031, 11, 28)
        span = next(check for check in option.checks if check.name == "span")
        assert span.passed and span.limit == "2031-11-28"


def test_plans_blocked_by_the_replan_limit_need_approval_not_a_fake_shortfall():
    result = quote(case(loan__prior_restructures=2), default_policy())
    assert result.status == "needs_approval" and result.blocked_by == ["replan_limit"]
    assert result.monthly_shortfall == 0 and result.closest is None
    assert "no_affordable_plan" not in result.flags
    assert result.for_approval and all(o.affordable for o in result.for_approval)
    reasons = {r.key: r.params for r in result.flag_reasons}
    assert reasons["needs_approval"] == {"because": "replan_limit"}


def test_plans_blocked_by_the_apr_cap_need_approval_when_the_policy_says_so():
    result = quote(auto_loan_at_30_percent(), policy(top__above_apr_cap="needs_approval"))
    assert result.status == "needs_approval" and result.blocked_by == ["apr_cap"]
    assert result.monthly_shortfall == 0 and result.options == []
    # ... and are brought down to the cap when it allows.
    capped = quote(auto_loan_at_30_percent(), default_policy())
    assert capped.status == "ok" and all(o.apr <= D("0.24") for o in capped.options)


def test_nothing_fits_figures_agree_with_each_other_and_the_budget():
    """Before: the budget said 150 left, the next screen 0.00 available (a minimum left the
    borrower was never told about), and "the lowest payment would be" a figure above an
    option on the same screen."""
    c = case(
        finances__monthly_income="6450", finances__savings_available="0", finances__expected_recovery_months=0
    )  # 450 left after essentials and debts
    result = quote(c, default_policy())
    budget = result.budget
    assert budget.disposable == D("450") and budget.reserve == D("600")  # 300 + 300 for the dependant
    assert budget.available == result.affordable_payment == D("0.00") and budget.limited_by == "reserve"
    assert result.status == "nothing_fits" and result.monthly_shortfall > 0
    closest = result.closest
    assert closest.available == budget.available
    assert closest.to_pay - closest.available == result.monthly_shortfall
    assert result.options[0].tightest == closest
    assert closest.to_pay == min(o.tightest.to_pay for o in result.options)


# ---------------------------------------------------------------- 3. hardship cases


def test_no_income_now_and_income_back_gets_a_payment_holiday_recommended():
    """A job lost on 28 Nov, a new one expected in about 3 months (from February): nothing to
    pay until the income is back, then a plan that fits it. Before: every option
    unaffordable, handed to a person."""
    c = case(
        finances__monthly_income="0", finances__expected_recovery_months=3, finances__income_after_recovery="12000"
    )
    result = quote(c, default_policy())
    assert result.status == "ok" and result.recommended.startswith("holiday-")
    holiday = result.options[0]
    (pause,) = holiday.pauses
    assert (pause.first_date, pause.last_date, pause.months) == (date(2027, 1, 5), date(2027, 1, 5), 1)
    assert pause.interest == "frozen" and pause.capitalised == 0  # the card policy freezes interest
    assert holiday.schedule[0].due_date == date(2027, 2, 5)  # the income is back from February
    assert all(r.payment > 0 for r in holiday.schedule)
    assert fits_every_month(holiday, c, default_policy())
    # One period of interest on the first instalment: 49,450.30 x 6% / 12.
    assert holiday.schedule[0].interest == D("247.25")


def test_a_pause_of_a_zero_rate_loan_has_no_empty_instalments():
    """Before: the holiday months of a 0% loan were 0.00 instalments, which the plan life
    marked missed, breaking the plan in month two."""
    c = case(loan__annual_rate="0", loan__overdue_interest="0")
    holiday = next(o for o in build_options(c, default_policy()) if o.structure is Structure.holiday)
    assert all(r.payment > 0 for r in holiday.schedule)
    assert holiday.pauses and holiday.total_interest == 0


@pytest.mark.parametrize("interest", ["freeze", "capitalise"])
def test_after_a_february_pause_the_first_instalment_charges_one_period(interest):
    """Payments on the 31st; a pause ending on 28 Feb: the 31 Mar instalment charges one
    month's interest. Before: from 28 Feb to 31 Mar, 9.7% more."""
    c = case(as_of="2026-12-10", loan__next_due_date="2026-12-31")
    option = next(o for o in build_options(c, policy(holiday_interest=interest)) if o.structure is Structure.holiday)
    (pause,) = option.pauses
    assert pause.last_date == date(2027, 2, 28) and option.schedule[0].due_date == date(2027, 3, 31)
    balance = option.restructured_principal + pause.capitalised
    assert option.schedule[0].interest == (balance * option.plan_rate / 12).quantize(D("0.01"))
    if interest == "capitalise":
        assert (
            pause.capitalised > 0
            and option.total_interest == sum(r.interest for r in option.schedule) + pause.capitalised
        )


def test_a_seasonal_plan_follows_the_income_shape():
    """Nothing left in the low season, plenty from June to September: payments in the high
    months only. Before: capped by the step ratio, every seasonal plan was unaffordable."""
    c = case(
        finances__monthly_income="6000",
        finances__savings_available="0",
        finances__expected_recovery_months=0,
        finances__high_income_months={"months": [6, 7, 8, 9], "monthly_income": "20000"},
    )
    p = default_policy()
    option = next(o for o in build_options(c, p) if o.structure is Structure.seasonal)
    assert option.affordable and fits_every_month(option, c, p)
    assert {r.due_date.month for r in option.schedule} <= {6, 7, 8, 9}
    assert option.pauses and all(p.interest == "capitalised" for p in option.pauses)
    assert all(r.payment > 0 for r in option.schedule)
    assert quote(c, p).recommended.startswith("seasonal-")


def test_a_step_up_plan_keeps_the_step_ratio_with_the_residue():
    """Before: 2,325.65 rising to a last payment of 6,977.04, 3.00004 times the first."""
    c = case(finances__income_after_recovery="30000")
    option = next(o for o in build_options(c, default_policy()) if o.structure is Structure.step_up)
    payments = [r.payment for r in option.instalments]
    assert max(payments) / min(payments) <= 3
    assert option.affordable


def test_the_rounding_residue_does_not_make_a_plan_a_month_longer():
    """53,333.08 at 0% with 2,666.66 available: 20 payments of about 2,666.654. Rounded to
    2,666.65, the last would have to be 2,666.73; before, the plan took 21 months."""
    c = Case.from_mapping(
        {
            "as_of": "2026-11-28",
            "loan": {
                "loan_id": "R",
                "product": "credit_card",
                "outstanding_principal": "53333.08",
                "overdue_principal": "0",
                "annual_rate": "0",
                "monthly_payment": "3000",
                "remaining_term_months": 20,
                "days_past_due": 30,
                "next_due_date": "2026-12-05",
            },
            "finances": {
                "monthly_income": "9333.33",
                "essential_expenses": "6000",
                "savings_available": "0",
                "outlook": "lasting",
            },
        }
    )
    p = default_policy()
    assert budget_of(c, p).now.available == D("2666.66")
    level = next(o for o in build_options(c, p) if o.structure is Structure.level)
    assert len(level.schedule) == 20 and level.affordable
    assert max(r.payment for r in level.schedule) <= D("2666.66")
    assert not fits_every_month(custom_quote(c, p, months=19), c, p)


def test_dependants_count_in_the_budget():
    p = default_policy()
    alone = budget_of(case(finances__dependants=0, finances__monthly_income="6500"), p).now
    family = budget_of(case(finances__dependants=3, finances__monthly_income="6500"), p).now
    assert alone.disposable == D("500") and alone.reserve == D("300") and alone.available == D("200.00")
    assert family.reserve == D("1200") and family.available == D("0.00")


def test_flags_say_why():
    c = case(
        finances__hardship_reason="over_indebted",
        finances__monthly_income="6000",
        finances__savings_available="0",
        finances__expected_recovery_months=0,
        finances__outlook="lasting",
    )
    result = quote(c, default_policy())
    reasons = {r.key: r.params for r in result.flag_reasons}
    assert reasons["debt_advice"] == {"because": "over_indebted"}
    assert reasons["hardship_review"] == {"because": "no_affordable_plan"}
    assert reasons["no_disposable_income"] == {"because": "costs_exceed_income"}


# ---------------------------------------------------------------- 4. every cost disclosed


def test_waived_and_kept_penalties_are_both_disclosed():
    c = case(finances__hardship_reason="other")  # half the 820 of penalties waived
    for option in build_options(c, default_policy()):
        assert option.penalties_waived == D("410.00") and option.penalties_kept == D("410.00")
        assert option.penalties_kept_paid in ("interest_free_payments", "settlement")
        assert {"key": "penalties_kept", "amount": "410.00"} in [{"key": r.key, **r.params} for r in option.reasons]
        assert option.interest_capitalised == D("1450.30")
        assert option.restructured_balance == D("49450.30") + D("410.00")


def test_a_replan_keeps_carried_penalties_as_interest_free_fees():
    """Before: the re-plan's loan turned unpaid carried penalties into overdue interest, which
    the next plan capitalised and charged interest on."""
    loan = case().loan
    rows = [
        ScheduledPart(date(2027, 1, 5), D("2300"), D("247.25"), D("20.50"), D("2567.75"), "paid"),
        ScheduledPart(date(2027, 2, 5), D("2310"), D("237.00"), D("20.50"), D("100"), "missed"),
        ScheduledPart(date(2027, 3, 5), D("2320"), D("226.00"), D("20.50"), D("0"), "due"),
    ]
    left = loan_left_by_plan(loan, rows, date(2027, 2, 20), prior_restructures=1)
    # 100 paid February's 20.50 fee first, then 79.50 of its interest; March's fee is unpaid.
    assert left.carried_fees == D("20.50")
    assert left.overdue_interest == D("157.50") and left.penalty_fees == 0
    assert left.overdue_principal == D("2310") and left.outstanding_principal == D("2320")
    assert left.days_past_due == 15 and left.next_due_date == date(2027, 3, 5)
    option = custom_quote(
        Case(as_of=date(2027, 2, 20), loan=left, finances=case().finances), default_policy(), months=6
    )
    assert option.fees_from_earlier_plan == D("20.50") and option.carried_fees >= D("20.50")
    assert option.penalties_waived == 0  # carried fees are never waived again
    assert option.interest_capitalised == D("157.50")


def test_apr_prices_a_long_first_period():
    """45 days to the first payment: the APR solves the annex equation on the actual dates
    (before, the first period counted as one and a half months of the grid)."""
    c = case(as_of="2026-01-01", loan__next_due_date="2026-02-15", loan__annual_rate="0.24", loan__product="auto_loan")
    p = policy(product="auto_loan", top__first_due_min_days=30, top__apr_cap=D("0.36"))
    option = custom_quote(c, p, months=12)
    assert option.schedule[0].due_date == date(2026, 2, 15)
    assert abs(npv_at_apr(option, c.as_of, option.restructured_balance)) < 0.01
    assert option.apr > D("0.2401")


def test_the_recommendation_puts_the_borrowers_cost_first():
    c, p = case(ISSUE_CARD), default_policy()
    result = quote(c, p)
    recommended = result.options[0]
    assert result.recommended == recommended.option_id and recommended.structure is Structure.interest_freeze
    assert result.recommended_because.key == "recommended_cheapest"
    favourite = result.option(result.recommended_because.params["instead_of"])
    assert favourite.total_repayable - recommended.total_repayable == D(result.recommended_because.params["saves"])
    lender = quote(c, policy(top__recommendation={"prefer": "lender", "clearly_cheaper": D("0.01")}))
    assert lender.recommended == favourite.option_id
    assert lender.recommended_because.key == "recommended_by_lender"


# ---------------------------------------------------------------- 5. the payment day


def test_the_borrower_chooses_the_payment_day():
    c, p = case(finances__payment_day=15), default_policy()
    result = quote(c, p)
    assert result.payment_day == 15
    for option in result.options:
        assert {r.due_date.day for r in option.instalments} == {15}
    assert offered_option(c, p, result.options[0].option_id) is not None
    with pytest.raises(CaseError) as err:
        quote(case(finances__payment_day=29), p)
    assert err.value.field == "finances.payment_day" and "1 to 28" in err.value.message
