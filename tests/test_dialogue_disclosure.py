"""Properties of what the borrower reads about a plan, over generated cases (hypothesis), in
both languages, rendered by the real templates:

- every text about an option (the options list, the details, the terms agreed to, the
  confirmation) states the penalties waived and the penalties kept, as the templates format
  money, whenever they are not zero, and where the kept part goes; a pause's dates; never
  "fits your budget" for an option that does not fit;
- the budget screen and "nothing fits" show one budget: the amount available for the loan
  is the same on both, and when nothing fits the shortfall is above zero and is what the
  closest plan asks in its tightest month less what that month has available.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_plans_properties import scenarios

from bot.i18n import LOCALES, make_filters, plain_text
from dialogs.steps import Step
from dialogs.views import loan_view, option_data, option_view
from dialogue_harness import TRANSLATOR, Talk, routes
from plan_cases import CARD
from plans.engine import custom_quote, quote
from plans.errors import NoPlanPossible
from plans.models import Case, Loan, Option, Outlook
from plans.policy import Policy

FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEPT_GOES = {
    "en": {"interest_free_payments": "spread over the payments, interest-free", "settlement": "paid in the settlement"},
    "zh_CN": {"interest_free_payments": "分摊到各期偿还，不计利息", "settlement": "包含在一次性结清的金额中"},
}


def texts_about(option: Option, case: Case, locale: str) -> dict[str, str]:
    """Every text the borrower reads about this one option."""
    data = option_data(option)
    one = option_view(option, 1)
    terms = {**data, "loan": loan_view(case.loan), "grace_days": 3, "misses": 2}
    return {
        "options": TRANSLATOR.render(
            locale, "options", options=[one], recommended=None, because=None, currency=option.currency
        ),
        "details": TRANSLATOR.render(locale, "option_details", **data),
        "terms": TRANSLATOR.render(locale, "confirm_terms", **terms),
        "confirmation": TRANSLATOR.render(locale, "plan_recorded", **terms, plan_id=1),
    }


def assert_discloses(option: Option, case: Case) -> None:
    event(
        f"waived {bool(option.penalties_waived)}, kept {bool(option.penalties_kept)}, "
        f"paused {bool(option.pauses)}, affordable {option.affordable}"
    )
    for locale in LOCALES:
        money = make_filters(locale)["money"]
        date = make_filters(locale)["date"]
        fits = TRANSLATOR.render(locale, "label.why.fits_income")
        for where, text in texts_about(option, case, locale).items():
            if option.penalties_waived:
                assert money(option.penalties_waived, option.currency) in text, (locale, where)
            if option.penalties_kept:
                assert money(option.penalties_kept, option.currency) in text, (locale, where)
                assert KEPT_GOES[locale][option.penalties_kept_paid] in text, (locale, where)
            for pause in option.pauses:
                assert date(pause.first_date) in text, (locale, where, pause)
            if not option.affordable:
                assert fits not in text, (locale, where, option.option_id)
        details = texts_about(option, case, locale)["terms"]
        if option.interest_capitalised:
            assert money(option.interest_capitalised, option.currency) in details
        assert money(option.restructured_balance, option.currency) in details


@FEW
@given(scenario=scenarios(), amount=st.integers(min_value=1, max_value=60))
def test_every_text_about_a_plan_discloses_waived_and_kept_and_never_calls_an_unaffordable_one_fitting(
    scenario: tuple[Case, Policy], amount: int
):
    case, policy = scenario
    result = quote(case, policy)
    for option in [*result.options, *result.for_approval]:
        assert_discloses(option, case)
    try:  # the borrower's own amount, in hundreds of the currency's units: over or under the budget
        own = custom_quote(case, policy, monthly_amount=Decimal(amount * 100))
    except NoPlanPossible:
        return
    assert_discloses(own, case)


# ---------------------------------------------------------------------------- one budget


@st.composite
def situations(draw) -> dict:
    income = draw(st.integers(min_value=0, max_value=20_000))
    return {
        "income": Decimal(income),
        "expenses_total": Decimal(draw(st.integers(min_value=0, max_value=max(income, 1) + 2_000))),
        "other_debts": Decimal(draw(st.sampled_from([0, 300, 1_500]))),
        "savings": Decimal(draw(st.sampled_from([0, 0, 1_000, 20_000]))),
        "dependants": draw(st.integers(min_value=0, max_value=4)),
        "outlook": draw(st.sampled_from([Outlook.lasting, Outlook.unsure])),
    }


def at_review(locale: str) -> Talk:
    talk = Talk(locale=locale, support_chat_id=None)
    return talk.walk(list(routes()[Step.review]))


@FEW
@given(situation=situations(), locale=st.sampled_from(LOCALES))
def test_the_budget_and_nothing_fits_agree_and_the_shortfall_is_never_zero(situation, locale):
    talk = at_review(locale)
    data = talk.state.data
    for name, value in situation.items():
        setattr(data, name, value)
    data.recovery_months = data.income_after = None
    talk.press_payload("next:")
    budget = talk.replies[0].data["budget"]["now"]
    money = make_filters(locale)["money"]
    budget_text = talk.text
    assert money(budget["available"], "CNY") in budget_text
    talk.press_payload("next:")
    screen = "options" if "options" in talk.keys else "no_affordable"
    event(screen)
    if screen == "options":
        assert all(option["affordable"] for option in talk.reply("options").data["options"])
        return
    assert "no_affordable" in talk.keys, talk.keys
    shown = talk.reply("no_affordable").data
    closest, shortfall = shown["closest"], shown["shortfall"]
    assert shortfall > 0 and closest["to_pay"] - closest["available"] == shortfall
    assert shown["budget"]["now"]["available"] == budget["available"]
    assert money(budget["available"], "CNY") in talk.text and money(shortfall, "CNY") in talk.text
    assert shown["options"] and closest["to_pay"] == shown["options"][0]["tightest"]["to_pay"]


@pytest.mark.parametrize(
    "locale, line", [("en", "Fees carried from your earlier plan"), ("zh_CN", "上一个还款计划未还的费用")]
)
def test_the_loan_overview_shows_fees_carried_from_an_earlier_plan(locale, line):
    """A re-plan's loan owes its earlier plan's unpaid fees: the overview names them, so its
    lines add up to what is owed; a loan without them has no such line."""
    money = make_filters(locale)["money"]
    fresh = Loan.model_validate(CARD["loan"])
    replanned = fresh.model_copy(update={"carried_fees": Decimal("250.00")})
    assert line not in plain_text(TRANSLATOR.render(locale, "loan_overview", loan=loan_view(fresh)))
    text = plain_text(TRANSLATOR.render(locale, "loan_overview", loan=loan_view(replanned)))
    assert line in text and money(Decimal("250.00"), "CNY") in text
