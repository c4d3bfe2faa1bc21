"""The borrower's conversation through the real PTB Application and the in-process fake Bot
API, over a real SQLite file: full paths in both languages, validation, navigation, resume,
stale and forged buttons, lockout, escaping and duplicate deliveries."""
from __future__ import annotations

import hashlib
import html
import json

import pytest

from borrower_chat import BorrowerChat, answer_from_outlook, answer_situation, make_bot_app
from borrower_chat import identify as identify_by_loan_number


@pytest.fixture
async def chat(fake_api, tmp_path):
    app, store = await make_bot_app(fake_api, tmp_path / "bot.db")
    yield BorrowerChat(app, fake_api)
    await app.shutdown()


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "bot.db"


def store_of(chat):
    return chat.app.bot_data["conversations"].store


async def test_full_path_in_english_records_a_plan_with_consent(chat):
    overview = await identify_by_loan_number(chat)
    assert "Your loan CC-1001" in overview and "Days past due: 75" in overview
    review = await answer_situation(chat)
    assert "Monthly income: CN¥9,000.00 (salary)" in review
    assert "Available now: CN¥3,000.00" in review
    budget = await chat.press("All correct")
    assert "Left each month: CN¥3,000.00" in budget
    options = await chat.press("Show me the plans")
    assert "Plans you can choose from" in options and "APR" in options and "Total repayable" in options
    blocks = options.split("\n\n")[1:-1]  # one block per option, a blank line between them
    assert len(blocks) == len(store_of(chat).load_conversation(chat.chat_id)["data"]["options"]) >= 3
    assert all(block.splitlines()[-1].startswith("<i>In short: ") for block in blocks)
    assert "fits your budget" in options and "lowest total cost" in options
    assert "Choose 1" in chat.labels and "I can pay … a month" in chat.labels
    details = await chat.press("Details 2")
    assert "Schedule" in details
    terms = await chat.press("Choose this plan")
    assert "Please read the terms of your plan" in terms and "Interest rate during the plan" in terms
    done = await chat.press("I agree")
    assert "Your plan is agreed" in done
    plans = store_of(chat).list_plans()
    assert len(plans) == 1 and plans[0]["loan_id"] == "CC-1001" and plans[0]["consent_user_id"] == chat.user_id
    consent = plans[0]["consent_text"]
    assert "Please read the terms of your plan" in consent
    assert plans[0]["consent_sha256"] == hashlib.sha256(consent.encode()).hexdigest()
    installments = store_of(chat).plan_installments(plans[0]["id"])
    assert len(installments) == plans[0]["payments"]


async def test_full_path_in_chinese_with_invite_and_contact(fake_api, db_path):
    app, store = await make_bot_app(fake_api, db_path)
    chat = BorrowerChat(app, fake_api, chat_id=777, user_id=777, language="zh-hans")
    token = store.create_invite("CC-1001", chat.app.bot_data["conversations"].services.now(), 14)
    await chat.say(f"/start {token}")
    await chat.press_data(fake_api.last_buttons(777)[0][0][1])  # agree to the privacy notice
    assert fake_api.last_message(777)["reply_markup"]["keyboard"][0][0]["request_contact"] is True
    overview = await chat.share_contact("8613800138000")
    assert "CC-1001" in overview
    for payload in ("loan:continue", "reason:job_loss", "outlook:temporary"):
        await chat.press_data(_data_with_payload(chat, payload))
    await chat.say("4个月")
    await chat.say("1.2万")
    await chat.say("９０００")
    await chat.press_data(_data_with_payload(chat, "kind:salary"))
    await chat.press_data(_data_with_payload(chat, "expmode:total"))
    for answer in ("5200元", "800", "3000", "1"):
        await chat.say(answer)
    await chat.press_data(_data_with_payload(chat, "review:ok"))
    await chat.press_data(_data_with_payload(chat, "budget:ok"))
    options_text = chat.text
    assert "年化" in options_text
    await chat.press_data(_data_with_payload(chat, "choose:", prefix=True))
    await chat.press_data(_data_with_payload(chat, "agree:", prefix=True))
    plans = store.list_plans()
    assert len(plans) == 1 and "年化" in plans[0]["consent_text"]
    assert store.borrower_by_telegram(777)["id"] == plans[0]["borrower_id"]
    with pytest.raises(Exception):
        store.redeem_invite(token, chat.app.bot_data["conversations"].services.now(), 1)
    await app.shutdown()


def _data_with_payload(chat, payload, prefix=False):
    for row in chat.fake.last_buttons(chat.chat_id):
        for _, data in row:
            body = data.partition(":")[2]
            if body == payload or (prefix and body.startswith(payload)):
                return data
    raise AssertionError(f"no button {payload!r}: {chat.fake.last_buttons(chat.chat_id)}")


async def test_bad_amounts_get_a_clear_answer_and_lose_nothing(chat):
    await identify_by_loan_number(chat)
    await chat.press("Continue")
    await chat.press("Lost my job")
    await chat.press("Lasting")
    for attempt, (bad, expected) in enumerate((("abc", "could not read that as an amount"), ("-5", "not negative"),
                                               ("1e999", "could not read"), ("999999999999", "too large")), 1):
        sent_before = len(chat.fake.sent_messages(chat.chat_id))
        await chat.say(bad)
        [text] = chat.texts_since(sent_before)  # what was wrong, then the question again: one message
        assert expected in text and "monthly net income" in text, text
        assert text.index(expected) < text.index("monthly net income")
        assert ("A person can help" in text) == (attempt >= 3)  # offered after the third miss
    await chat.say("6500")
    await chat.press("Salary")
    await chat.press("Item by item")
    await chat.say("lots")
    assert "could not read" in chat.text
    for amount in ("2000", "1500", "300", "0", "0", "100"):
        await chat.say(amount)
    await chat.say("0")
    await chat.say("0")
    review = await chat.say("two")
    assert "whole number" in chat.text
    review = await chat.say("2")
    assert "Monthly income: CN¥6,500.00" in review and "Essential spending: CN¥3,900.00" in review


async def test_edit_from_review_returns_to_review(chat):
    await identify_by_loan_number(chat)
    await answer_situation(chat)
    await chat.press("Edit income")
    await chat.say("9500")
    review = await chat.press("Salary")
    assert "Please check your answers" in review and "CN¥9,500.00" in review
    assert "Available now: CN¥3,000.00" in review


async def test_cancel_back_and_resume(chat):
    await identify_by_loan_number(chat)
    await chat.press("Continue")
    await chat.press("Lost my job")
    await chat.say("/back")
    assert "What made the payments difficult" in chat.text
    await chat.press("Illness or injury")
    await chat.say("/cancel")
    assert "Paused" in chat.text
    await chat.say("hello")
    assert "Welcome back" in chat.text and "temporary" in chat.text


async def test_new_application_on_the_same_database_resumes(fake_api, db_path):
    app, _ = await make_bot_app(fake_api, db_path)
    chat = BorrowerChat(app, fake_api)
    await identify_by_loan_number(chat)
    await chat.press("Continue")
    await chat.press("Lost my job")
    await chat.press("Temporary")
    await app.shutdown()
    app2, _ = await make_bot_app(fake_api, db_path)
    chat2 = BorrowerChat(app2, fake_api)
    # The new process continues at "in how many months": 4 is taken, the next question follows.
    assert "monthly income do you expect" in await chat2.say("4")
    conversation = chat2.app.bot_data["conversations"].store.load_conversation(chat2.chat_id)
    assert conversation["data"]["data"]["recovery_months"] == 4
    await app2.shutdown()


async def test_stale_and_forged_buttons_are_refused(chat):
    await identify_by_loan_number(chat)
    old = chat.button_data("Continue")
    await chat.press("Continue")
    await chat.press_data(old)
    assert "no longer active" in chat.text
    current_menu = chat.button_data("Lost my job").partition(":")[0]
    await chat.press_data(f"{current_menu}:choose:level-1")
    assert "no longer active" in chat.text
    events = [row["event"] for row in store_of(chat).db.query("select event from audit")]
    assert "forged_callback" in events


async def test_identification_locks_after_five_failures(chat):
    await chat.say("/start")
    await chat.press("I agree")
    for attempt in range(5):
        await chat.say("CC-1001")
        await chat.say("9999")
    assert "locked for one hour" in chat.text
    await chat.say("CC-1001")
    await chat.say("1234")
    assert "locked" in chat.text and "Your loan" not in chat.text


async def test_user_html_is_escaped(chat):
    await identify_by_loan_number(chat)
    await chat.press("Continue")
    await chat.press("Something else")
    await chat.say('<b>Tom & "Jerry"</b>')
    sent = chat.fake.sent_messages(chat.chat_id)
    assert all("can't parse" not in json.dumps(m) for m in sent)
    await answer_from_outlook(chat, outlook="Lasting", income="6000", rest=("3000", "0", "0", "0"))
    assert "Please check your answers" in chat.text
    assert "(&lt;b&gt;Tom &amp; &#34;Jerry&#34;&lt;/b&gt;)" in chat.text
    assert '<b>Tom & "Jerry"</b>' in html.unescape(chat.text)


async def test_duplicate_delivery_and_double_tap_record_one_plan(chat):
    await identify_by_loan_number(chat)
    await answer_situation(chat)
    await chat.press("All correct")
    await chat.press("Show me the plans")
    await chat.press("Choose 1")
    agree = chat.button_data("I agree")
    await chat.press_data(agree, update_id=9001)
    sent = len(chat.fake.sent_messages(chat.chat_id))
    await chat.press_data(agree, update_id=9001)  # Telegram redelivers the same update
    assert len(chat.fake.sent_messages(chat.chat_id)) == sent
    await chat.press_data(agree, update_id=9002)  # a second tap on the same button
    assert len(store_of(chat).list_plans()) == 1


async def test_guesses_at_one_loan_from_many_accounts_are_limited(chat, fake_api):
    attackers = [BorrowerChat(chat.app, fake_api, chat_id=9100 + n, user_id=9100 + n) for n in range(3)]
    for attacker in attackers:
        await attacker.say("/start")
        await attacker.press("I agree")
        for guess in range(4):  # under each chat's own limit of five
            await attacker.say("CC-1001")
            await attacker.say(f"{guess:04d}"[:3] + "9")
    newcomer = BorrowerChat(chat.app, fake_api, chat_id=9200, user_id=9200)
    await newcomer.say("/start")
    await newcomer.press("I agree")
    await newcomer.say("CC-1001")
    assert "locked" in await newcomer.say("1234")  # even the right digits: the loan is locked
    assert "Your loan" not in newcomer.text
    await chat.say("/start")  # the real borrower with another loan number is not affected
    await chat.press("I agree")
    await chat.say("CL-2002")
    await chat.say("1234")
    assert "do not match" in chat.text  # refused for the wrong digits, not locked
