"""What the conversation shows of the plan engine's rules (issue 10), through `Dialogue.handle`
over an in-memory store, in both languages: the payment day the borrower chooses, one budget
on the budget and "nothing fits" screens, the engine's flags leading to a person and to free
debt advice, "are you sure?" before a plan above the budget, a refused own amount in words,
and what the options, the terms and the confirmation disclose."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bot.i18n import make_filters
from dialogs.steps import Step
from dialogue_harness import TRANSLATOR, Talk, routes
from plans.engine import budget_of, quote
from plans.models import Case
from plans.policy import PaymentDays, Policy, default_policy

SUPPORT = -100777


def money(locale: str, amount: Decimal) -> str:
    return make_filters(locale)["money"](amount, "CNY")


def answer(
    talk: Talk,
    *,
    reason: str = "job_loss",
    outlook: str = "temporary",
    recovery: tuple = ("4", "12000"),
    income: str = "9000",
    kind: str = "salary",
    payday: str = "pick:5",
    spending: str = "5200",
    debts: str = "800",
    savings: str = "3000",
    dependants: str = "1",
) -> Talk:
    """From the loan overview to the review; `payday` is a button payload or a typed day."""
    talk.walk(list(routes()[Step.loan]))
    talk.press_payload("next:")
    talk.press_payload(f"pick:{reason}")
    talk.press_payload(f"pick:{outlook}")
    if outlook != "lasting":
        for text in recovery:
            talk.say(text)
    talk.say(income)
    talk.press_payload(f"pick:{kind}")
    talk.press_payload(payday) if payday.startswith("pick:") else talk.say(payday)
    talk.press_payload("pick:total")
    for text in (spending, debts, savings, dependants):
        talk.say(text)
    assert talk.step is Step.review, (talk.keys, talk.text)
    return talk


def to_options(talk: Talk, **answers) -> Talk:
    answer(talk, **answers)
    talk.press_payload("next:")
    talk.press_payload("next:")
    return talk


def case_of(talk: Talk) -> Case:
    from dialogs.answers import case_from

    return case_from(talk.dialogue.loan(talk.state), talk.state.data, talk.state.quote_as_of or talk.now.date())


# ---------------------------------------------------------------------------- the payment day


@pytest.mark.parametrize(
    "locale, refused, typed", [("en", "from 1 to 28", "20th"), ("zh_CN", "1 日到 28 日", "每月20号")]
)
def test_the_borrower_chooses_the_payment_day_within_the_policys_days(locale, refused, typed):
    talk = Talk(locale=locale)
    talk.walk(list(routes()[Step.payment_day]))
    assert talk.payloads == ["pick:5", "pick:1", "pick:10", "pick:15", "pick:20", "pick:25"]  # as now, then common
    talk.say("31")
    assert talk.keys == ["error.day_range", "ask_payment_day"] and refused in talk.text
    assert talk.step is Step.payment_day
    talk.say("someday")
    assert talk.keys[0] == "error.day_format" and talk.state.data.payment_day is None
    talk.say(typed)
    assert talk.state.data.payment_day == 20 and talk.step is Step.expenses_mode


def test_the_buttons_follow_the_lenders_days():
    talk = Talk()
    talk.services.policy = default_policy().model_copy(update={"payment_days": PaymentDays(earliest=8, latest=18)})
    talk.walk(list(routes()[Step.payment_day]))
    assert talk.payloads == ["pick:10", "pick:15"]  # the loan's 5th is not allowed: not offered
    talk.say("5")
    assert talk.keys[0] == "error.day_range" and "8 to 18" in talk.text


def test_the_payment_day_is_kept_editable_and_every_plan_falls_on_it():
    talk = answer(Talk(), payday="pick:20")
    assert "Payments due on: day 20 of each month" in talk.text
    talk.press_payload("edit:payment_day")
    assert talk.keys == ["ask_payment_day"]
    talk.say("15")
    assert talk.step is Step.review and talk.state.data.payment_day == 15 and "day 15 of each month" in talk.text
    talk.press_payload("next:")
    talk.press_payload("next:")
    result = quote(case_of(talk), talk.services.policy)
    assert result.payment_day == 15
    for option in result.options:
        assert {row.due_date.day for row in option.instalments} == {15}, option.option_id
    talk.press_payload(f"choose:{talk.state.options[0]}")
    talk.press_payload(f"agree:{talk.state.chosen}")
    plan = talk.store.active_plan_for_borrower(talk.state.borrower_id)
    instalments = [r for r in talk.store.plan_installments(plan["id"]) if r["kind"] != "down_payment"]
    assert {r["due_date"].day for r in instalments} == {15}


# ---------------------------------------------------------------------------- one budget


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_the_budget_screen_shows_what_the_engine_holds_the_plans_to(locale):
    talk = answer(Talk(locale=locale))
    talk.press_payload("next:")
    budget = budget_of(case_of(talk), talk.services.policy)
    for figure in (budget.now.disposable, budget.now.available, budget.now.reserve, budget.later.available):
        assert money(locale, figure) in talk.text, figure
    assert (budget.now.available, budget.later.available) == (Decimal("2400.00"), Decimal("4800.00"))
    assert "80%" in talk.text and ("March 2027" in talk.text or "2027年3月" in talk.text)


def test_with_nothing_left_the_budget_says_why_it_is_zero():
    talk = answer(Talk(), income="0", kind="none", recovery=("4", "12000"))
    talk.press_payload("next:")
    assert "Nothing is left once your essential spending and other debts are paid" in talk.text
    assert "CN¥4,800.00" in talk.text  # what the recovered income will leave


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_nothing_fits_shows_the_budget_screens_figures_and_the_closest_month(locale):
    talk = answer(
        Talk(locale=locale, support_chat_id=None),
        outlook="lasting",
        income="6500",
        spending="5000",
        debts="0",
        savings="0",
        dependants="2",
    )
    talk.press_payload("next:")
    budget_text = talk.text
    talk.press_payload("next:")
    assert "no_affordable" in talk.keys
    result = quote(case_of(talk), talk.services.policy)
    closest = result.closest
    assert result.monthly_shortfall > 0 and closest.to_pay - closest.available == result.monthly_shortfall
    available = money(locale, result.budget.available)
    assert available in budget_text and available in talk.text  # one definition on both screens
    assert money(locale, closest.to_pay) in talk.text and money(locale, result.monthly_shortfall) in talk.text
    shown = talk.reply("no_affordable").data["options"]
    assert closest.to_pay == shown[0]["tightest"]["to_pay"]  # the lowest is the closest option's own month
    assert money(locale, Decimal("0")) + " short" not in talk.text


# ---------------------------------------------------------------------------- flags


def test_heavy_debts_bring_free_debt_advice_and_a_person_who_is_told_why():
    talk = to_options(Talk(), reason="over_indebted")
    assert talk.keys == ["debt_advice", "options"] and "12348" in talk.text
    assert "person:debt_advice" in talk.payloads
    talk.press_payload("person:debt_advice")
    card, text = talk.card()
    assert "debt advice was shown" in text


def strict_policy() -> Policy:
    data = default_policy().model_dump()
    data.update(apr_cap=Decimal("0.05"), above_apr_cap="needs_approval")
    data["products"]["credit_card"]["structures"] = ["level", "equal_principal", "custom"]  # all at 6%
    return Policy.model_validate(data)


def test_plans_a_person_must_approve_reach_them_with_the_rules_that_block_them():
    talk = answer(Talk())
    talk.services.policy = strict_policy()
    talk.press_payload("next:")
    talk.press_payload("next:")
    assert talk.keys == ["needs_approval", "person_requested"] and "the APR cap" in talk.text
    card, text = talk.card()
    assert card.data["blocked_by"] == ["apr_cap"] and card.data["for_approval"]
    assert "Blocked by the lender's rules: the APR cap" in text and card.data["for_approval"][0] in text


@pytest.mark.parametrize(
    "locale, told", [("en", "please contact your lender at 95555"), ("zh_CN", "请联系您的贷款机构（95555）")]
)
def test_with_nobody_to_approve_them_here_the_borrower_is_told_the_truth(locale, told):
    talk = answer(Talk(locale=locale, support_chat_id=None))
    talk.services.policy = strict_policy().model_copy(update={"contact": "95555"})
    talk.press_payload("next:")
    talk.press_payload("next:")
    assert talk.keys == ["needs_approval"] and told in talk.text and talk.step is Step.options
    assert "asked our team" not in talk.text and "我已请" not in talk.text
    assert talk.payloads == ["back:review"]  # a way on: check the answers


# ---------------------------------------------------------------------------- "I can pay X a month"


@pytest.mark.parametrize(
    "locale, sure, budget_words",
    [("en", "Yes, I am sure", "you told me you have left"), ("zh_CN", "我确定", "您告诉我们的")],
)
def test_an_amount_above_the_budget_is_agreed_only_knowingly(locale, sure, budget_words):
    talk = to_options(Talk(locale=locale))
    talk.press_payload("custom:")
    talk.say("6000")
    option_id = talk.state.custom["option_id"]
    assert talk.state.custom["affordable"] == "no"
    fits = TRANSLATOR.render(locale, "label.why.fits_income")
    assert fits not in talk.text  # never said to fit
    talk.press_payload(f"choose:{option_id}")
    assert talk.step is Step.above_budget and budget_words in talk.text and money(locale, Decimal("2400")) in talk.text
    talk.send("button", f"{talk.state.menu}:agree:{option_id}")  # a forged "I agree": refused
    assert talk.keys[0] == "stale_menu" and talk.state.plan_id is None
    talk.press(sure)
    assert talk.step is Step.confirm and fits not in talk.text
    talk.press_payload(f"agree:{option_id}")
    plan = talk.store.list_plans()[0]
    assert plan["terms"]["chosen_over_budget"] is True and plan["terms"]["affordable"] is False
    assert plan["terms"]["available_each_month"] == "2400.00"
    assert money(locale, Decimal("2400")) in plan["consent_text"]  # the terms agreed say so
    [event] = talk.audit("over_budget_accepted")
    assert '"available": "2400.00"' in event["details"]
    assert '"chosen_over_budget": true' in talk.audit("plan_accepted")[0]["details"]


def test_an_amount_within_the_budget_goes_straight_to_the_terms_and_back_means_back():
    talk = to_options(Talk())
    talk.press_payload("custom:")
    talk.say("2000")
    assert talk.state.custom["affordable"] == "yes"
    talk.press_payload(f"choose:{talk.state.custom['option_id']}")
    assert talk.step is Step.confirm
    talk = to_options(Talk())
    talk.press_payload("custom:")
    talk.say("6000")
    talk.press_payload(f"choose:{talk.state.custom['option_id']}")
    talk.press_payload("custom:")  # a lower amount instead
    assert talk.step is Step.custom_amount
    talk.say("/back")
    assert talk.step is Step.above_budget
    talk.press_payload("back:options")
    assert talk.step is Step.options and talk.keys == ["options"]


def keep_rate_policy(mode: str) -> Policy:
    data = default_policy().model_dump()
    data["above_apr_cap"] = mode
    data["products"]["credit_card"]["interest"] = "keep"
    return Policy.model_validate(data)


@pytest.mark.parametrize(
    "locale, words",
    [
        ("en", ["its APR would be 30.02%, above the 24.00% allowed", "name another amount"]),
        ("zh_CN", ["年化利率将为 30.02%，超过允许的 24.00%", "换一个金额"]),
    ],
)
def test_an_own_amount_over_the_apr_cap_is_refused_in_words_with_a_way_on(locale, words):
    talk = Talk(locale=locale)
    talk.store.db.execute("UPDATE loans SET annual_rate = '0.30' WHERE loan_id = 'CC-1001'")
    talk.services.policy = keep_rate_policy("needs_approval")
    to_options(talk, outlook="lasting")
    talk.press_payload("custom:")
    talk.say("2000")
    assert talk.keys == ["error.custom_not_allowed", "ask_custom_amount"] and talk.step is Step.custom_amount
    for word in words:
        assert word in talk.text
    assert talk.payloads == ["back:options", "person:custom"] and talk.state.custom is None


def test_where_the_policy_reduces_the_rate_the_own_amount_is_capped_and_says_so():
    talk = Talk()
    talk.store.db.execute("UPDATE loans SET annual_rate = '0.30' WHERE loan_id = 'CC-1001'")
    talk.services.policy = keep_rate_policy("reduce_rate")
    to_options(talk, outlook="lasting")
    talk.press_payload("custom:")
    talk.say("2000")
    assert talk.keys == ["option_details"] and "rate lowered so the APR stays within 24.00%" in talk.text
    assert talk.replies[0].data["option"]["apr"] <= Decimal("0.24")


# ---------------------------------------------------------------------------- disclosure


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_waived_and_kept_penalties_are_both_said_everywhere_the_plan_is(locale):
    """An income drop: 80% of the penalties waived, 20% kept and spread over the payments."""
    talk = to_options(Talk(locale=locale), reason="income_drop")
    waived, kept = money(locale, Decimal("656.00")), money(locale, Decimal("164.00"))
    spread = {"en": "spread over the payments, interest-free", "zh_CN": "分摊到各期偿还，不计利息"}[locale]
    assert waived in talk.text and kept in talk.text and spread in talk.text
    why = {"en": "Why this one:", "zh_CN": "推荐理由："}[locale]
    assert talk.text.count(why) == 1
    option_id = talk.state.options[0]
    talk.press_payload(f"details:{option_id}")
    assert waived in talk.text and kept in talk.text
    talk.press_payload(f"choose:{option_id}")
    balance = talk.replies[0].data["option"]["balance"]
    assert waived in talk.text and kept in talk.text and money(locale, balance) in talk.text
    assert money(locale, Decimal("1450.30")) in talk.text  # the overdue interest added to the principal
    talk.press_payload(f"agree:{option_id}")
    assert waived in talk.text and kept in talk.text  # the confirmation
    plan = talk.store.list_plans()[0]
    assert plan["terms"]["penalties_kept"] == "164.00"
    assert plan["terms"]["penalties_kept_paid"] == "interest_free_payments"
    assert kept in plan["consent_text"]


def test_a_holiday_says_when_nothing_is_to_pay_and_what_happens_to_interest():
    talk = to_options(Talk(), income="0", kind="none", recovery=("4", "12000"), savings="0")
    holiday = next(o for o in talk.replies[0].data["options"] if o["structure"] == "holiday")
    assert holiday["pauses"]
    assert "Nothing to pay for 2 months, Jan 5, 2027 to Feb 5, 2027 (interest frozen)" in talk.text
    assert talk.replies[0].data["recommended"] == holiday["option_id"]


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
def test_every_broken_rule_is_said_with_its_value_and_limit(locale):
    from dialogs.offers import refusal
    from plans.errors import NoPlanPossible
    from plans.models import Reason

    checks = [
        Reason("apr_cap", {"value": "0.30022308", "limit": "0.24"}),
        Reason("span", {"value": "2031-12-05", "limit": "2031-11-28"}),
        Reason("term", {"value": "61", "limit": "60"}),
        Reason("min_installment", {"value": "80.00", "limit": "100"}),
        Reason("replan_limit", {"value": "2", "limit": "2"}),
        Reason("structure_allowed", {"value": "custom", "limit": "level,holiday"}),
    ]
    reply = refusal(NoPlanPossible("no", key="custom_not_allowed", reasons=checks), "CNY")
    text = TRANSLATOR.render(locale, reply.key, **reply.data)
    filters = make_filters(locale)
    from datetime import date

    for shown in (
        "30.02%",
        "24.00%",
        filters["date"](date(2031, 12, 5)),
        filters["date"](date(2031, 11, 28)),
        "61",
        "60",
        money(locale, Decimal("80")),
        money(locale, Decimal("100")),
    ):
        assert shown in text, (shown, text)
    assert text.count("•") == len(checks)


@pytest.mark.parametrize("locale", ["en", "zh_CN"])
@pytest.mark.parametrize(
    "because",
    [
        {"key": "recommended_only_fit", "params": {}},
        {
            "key": "recommended_cheapest",
            "params": {"saves": "1847.92", "instead_of": "step_up-13", "instead_of_structure": "step_up"},
        },
        {"key": "recommended_best_value", "params": {}},
        {
            "key": "recommended_by_lender",
            "params": {"saves": "12.00", "cheaper": "level-22", "cheaper_structure": "level"},
        },
    ],
)
def test_the_recommended_plan_says_why_in_one_line(locale, because):
    talk = to_options(Talk(locale=locale))
    shown = talk.replies[0].data
    text = TRANSLATOR.render(locale, "options", **{**shown, "because": because})
    why = {"en": "Why this one: ", "zh_CN": "推荐理由："}[locale]
    [line] = [line for line in text.splitlines() if line.startswith(why)]
    assert len(line) > len(why) + 5 and ("saves" not in because["params"] or "CN¥" in line or "¥" in line)
