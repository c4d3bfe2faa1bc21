"""The hardship cases the product exists for (issue 10), each through the real Application and
the fake Bot API, each ending in the plan the borrower should get, checked in the store:

(a) no income now, income expected back: a payment holiday, then a plan that fits the
    recovered income, offered and recommended, agreed and stored with its pause; and the
    plan's life through time on a 0% loan: the pause months are never reminded, never
    missed, never break the plan;
(b) a seasonal income: a plan that follows it (payments in the busy months only here);
(c) an own amount above the budget: "are you sure?", then a plan recorded as chosen
    knowingly and not affordable;
(d) an own amount over the APR cap (contract 30%, cap 24%, interest kept): refused in words
    where the policy wants a person's approval, brought down to the cap where it reduces the rate.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from borrower_chat import BorrowerChat, answer_situation, identify, make_bot_app
from bot.lender.plan_life import apply_payment
from fixtures import store_of
from plan_helpers import at, dispatcher_for
from plans.policy import Policy, default_policy


@pytest.fixture
async def open_chat(fake_api, tmp_path):
    apps = []

    async def opening(policy: Policy | None = None, **loan) -> BorrowerChat:
        app, store = await make_bot_app(fake_api, tmp_path / "bot.db", policy=policy)
        for column, value in loan.items():
            store.db.execute(f"UPDATE loans SET {column} = ? WHERE loan_id = 'CC-1001'", [value])
        apps.append(app)
        return BorrowerChat(app, fake_api)

    yield opening
    for app in apps:
        await app.shutdown()


async def answer(
    chat: BorrowerChat,
    *,
    reason: str,
    outlook: str,
    income: str,
    kind: str,
    before_kind: tuple[str, ...] = (),
    after_kind: tuple[str, ...] = (),
    rest: tuple[str, ...] = ("5200", "800", "0", "1"),
) -> str:
    """From /start to the plans, as a borrower types and presses; the plans' text."""
    await identify(chat)
    await chat.press("Continue")
    await chat.press(reason)
    await chat.press(outlook)
    for text in before_kind:
        await chat.say(text)
    await chat.say(income)
    await chat.press(kind)
    for text in after_kind:
        await chat.say(text)
    await chat.press("Day 5, as now")
    await chat.press("One total")
    for text in rest:
        await chat.say(text)
    await chat.press("All correct")
    return await chat.press("Show me the plans")


async def agree_first(chat: BorrowerChat) -> dict:
    await chat.press("Choose 1")
    done = await chat.press("I agree")
    assert "Your plan is agreed" in done
    return store_of(chat).active_plan_for_loan("CC-1001")


# ---------------------------------------------------------------------------- (a) no income now


async def test_no_income_now_gets_a_holiday_then_a_plan_that_fits_the_recovered_income(open_chat):
    chat = await open_chat()
    plans = await answer(
        chat, reason="Lost my job", outlook="Temporary", income="0", kind="No income now", before_kind=("4", "12000")
    )
    assert "1. A break with nothing to pay, then equal payments</b> ⭐ recommended" in plans
    assert "Nothing to pay for 2 months, Jan 5, 2027 to Feb 5, 2027 (interest frozen)" in plans
    plan = await agree_first(chat)
    store = store_of(chat)
    assert plan["structure"] == "holiday" and plan["terms"]["affordable"] is True
    [pause] = store.plan_pauses(plan["id"])
    assert (pause["first_date"], pause["last_date"], pause["months"], pause["interest"]) == (
        date(2027, 1, 5),
        date(2027, 2, 5),
        2,
        "frozen",
    )
    instalments = store.plan_installments(plan["id"])
    assert instalments[0]["due_date"] == date(2027, 3, 5) and all(i["amount"] > 0 for i in instalments)
    assert instalments[0]["amount"] <= Decimal("4800.00")  # what the recovered income leaves for the loan


async def test_a_holiday_on_a_0_percent_loan_is_never_reminded_missed_or_breaking_the_plan(open_chat):
    """The issue's bug: a 0% loan's holiday months were 0.00 instalments the plan life marked
    missed, breaking the plan in month two. Through time: the pause passes in silence, the
    first instalments are reminded and paid, the plan stays on track."""
    chat = await open_chat(annual_rate="0")
    await answer(
        chat, reason="Lost my job", outlook="Temporary", income="0", kind="No income now", before_kind=("4", "12000")
    )
    plan = await agree_first(chat)
    store = store_of(chat)
    assert plan["structure"] == "holiday" and Decimal(plan["terms"]["plan_rate"]) == 0
    [pause] = store.plan_pauses(plan["id"])
    paused = [pause["first_date"], pause["first_date"] + timedelta(days=31)]  # 5 January, 5 February
    instalments = store.plan_installments(plan["id"])
    assert not {i["due_date"] for i in instalments} & set(paused)
    reminded = {
        i["due_date"]
        for i in instalments
        for r in store.reminders_for_plan(plan["id"])
        if r["installment_number"] == i["number"]
    }
    assert not reminded & set(paused)
    dispatcher = dispatcher_for(chat)
    sent = len(chat.fake.sent_messages(chat.chat_id))
    for day in paused:  # the paused due dates and the days after their grace
        for moment in (at(day.year, day.month, day.day, 10), at(*_after_grace(day), 11)):
            await dispatcher.run_once(chat.app.bot, moment)
    assert len(chat.fake.sent_messages(chat.chat_id)) == sent  # nothing to say during the pause
    assert store.missed_count(plan["id"]) == 0 and store.plan(plan["id"])["status"] == "active"
    for instalment in instalments[:2]:  # then the first two instalments: reminded, paid, never missed
        due = instalment["due_date"]
        await dispatcher.run_once(chat.app.bot, at(*_ymd(due - timedelta(days=3)), 10))
        assert f"payment {instalment['number']} of your plan" in chat.text
        apply_payment(
            store,
            loan_id="CC-1001",
            amount=instalment["amount"],
            paid_at=at(*_ymd(due), 9),
            reference=f"pay-{instalment['number']}",
        )
        await dispatcher.run_once(chat.app.bot, at(*_after_grace(due), 11))
    assert store.missed_count(plan["id"]) == 0 and store.plan(plan["id"])["status"] == "active"
    assert [i["status"] for i in store.plan_installments(plan["id"])[:3]] == ["paid", "paid", "due"]


async def test_the_plan_and_schedule_show_the_pause(open_chat):
    chat = await open_chat()
    await answer(
        chat, reason="Lost my job", outlook="Temporary", income="0", kind="No income now", before_kind=("4", "12000")
    )
    await agree_first(chat)
    summary = await chat.say("/plan")
    assert "Nothing to pay for 2 months, Jan 5, 2027 to Feb 5, 2027" in summary
    await chat.say("/schedule")
    [text] = [m["text"] for m in chat.fake.sent_messages(chat.chat_id) if "Schedule of plan" in m.get("text", "")]
    assert "⏸  2027-01-05  nothing to pay, 2 months" in text
    assert text.index("2027-01-05") < text.index("2027-03-05")


def _ymd(day: date) -> tuple[int, int, int]:
    return day.year, day.month, day.day


def _after_grace(day: date) -> tuple[int, int, int]:
    return _ymd(day + timedelta(days=default_policy().reminders.grace_days + 1))


# ---------------------------------------------------------------------------- (b) seasonal income


async def test_a_seasonal_earner_gets_a_plan_that_follows_the_busy_months(open_chat):
    chat = await open_chat()
    plans = await answer(
        chat,
        reason="Income fell",
        outlook="Lasting",
        income="5500",
        kind="Seasonal",
        after_kind=("6-8", "20000"),
        rest=("4500", "800", "0", "1"),
    )
    assert "1. Follows your seasonal income</b> ⭐ recommended" in plans
    assert "higher in your busy months (6, 7, 8)" in plans
    plan = await agree_first(chat)
    store = store_of(chat)
    assert plan["structure"] == "seasonal"
    assert {i["due_date"].month for i in store.plan_installments(plan["id"])} <= {6, 7, 8}
    pauses = store.plan_pauses(plan["id"])
    assert pauses and pauses[0]["first_date"] == date(2027, 1, 5) and all(p["months"] > 0 for p in pauses)


# ---------------------------------------------------------------------------- (c) above the budget


async def test_an_own_amount_above_the_budget_is_recorded_as_chosen_knowingly(open_chat):
    chat = await open_chat()
    await identify(chat)
    await answer_situation(chat)
    await chat.press("All correct")
    await chat.press("Show me the plans")
    await chat.press("I can pay … a month")
    details = await chat.say("6000")
    assert "Your own amount" in details and "fits your budget" not in details
    sure = await chat.press("Choose this plan")
    assert "Are you sure?" in sure and "CN¥2,400.00 you told me you have left" in sure
    terms = await chat.press("Yes, I am sure")
    assert "You chose this amount knowing it is more than the CN¥2,400.00" in terms
    await chat.press("I agree")
    plan = store_of(chat).active_plan_for_loan("CC-1001")
    assert plan["structure"] == "custom" and plan["terms"]["affordable"] is False
    assert plan["terms"]["chosen_over_budget"] is True and plan["terms"]["parameters"]["monthly_amount"] == "6000.00"
    assert "knowing it is more than" in plan["consent_text"]
    events = [row["event"] for row in store_of(chat).db.query("SELECT event FROM audit ORDER BY id")]
    assert events.index("over_budget_accepted") < events.index("plan_accepted")


# ---------------------------------------------------------------------------- (d) over the APR cap


def keep_rate(mode: str) -> Policy:
    data = default_policy().model_dump()
    data["above_apr_cap"] = mode
    data["products"]["credit_card"]["interest"] = "keep"
    return Policy.model_validate(data)


async def over_the_cap(open_chat, mode: str) -> BorrowerChat:
    chat = await open_chat(keep_rate(mode), annual_rate="0.30")
    await answer(
        chat, reason="Lost my job", outlook="Lasting", income="9000", kind="Salary", rest=("5200", "800", "3000", "1")
    )
    await chat.press("I can pay … a month")
    return chat


async def test_an_own_amount_over_the_apr_cap_is_refused_in_words_and_a_lawful_plan_agreed(open_chat):
    chat = await over_the_cap(open_chat, "needs_approval")
    refused = await chat.say("2000")
    assert "its APR would be 30.02%, above the 24.00% allowed" in refused
    assert store_of(chat).load_conversation(chat.chat_id)["step"] == "custom_amount"
    await chat.press("Back to the plans")
    plan = await agree_first(chat)  # the lawful plan on offer: interest frozen
    assert plan["structure"] == "interest_freeze" and Decimal(plan["terms"]["apr"]) <= Decimal("0.24")


async def test_where_the_policy_reduces_the_rate_the_own_amount_is_capped(open_chat):
    chat = await over_the_cap(open_chat, "reduce_rate")
    details = await chat.say("2000")
    assert "rate lowered so the APR stays within 24.00%" in details
    await chat.press("Choose this plan")
    await chat.press("I agree")
    plan = store_of(chat).active_plan_for_loan("CC-1001")
    assert plan["structure"] == "custom" and plan["terms"]["affordable"] is True
    assert Decimal(plan["terms"]["apr"]) <= Decimal("0.24") < Decimal("0.30")
    assert Decimal(plan["terms"]["plan_rate"]) < Decimal("0.30")
