"""The borrower's conversation through the real PTB Application and the in-process fake Bot
API, over a real SQLite file: what Telegram adds to the dialogue (its behaviour is tested
without Telegram in test_dialogue.py). Full paths in both languages with a shared contact,
a new process resuming, HTML escaping, edited messages, duplicate deliveries and double taps."""

from __future__ import annotations

import hashlib
import html
import json

import pytest
from telegram import Update

from borrower_chat import BorrowerChat, answer_from_outlook, answer_situation, data_with_payload, make_bot_app
from borrower_chat import identify as identify_by_loan_number
from bot.errors import InviteError
from fakebot import make_text_update
from fixtures import store_of


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "bot.db"


async def test_full_path_in_english_records_a_plan_with_consent(chat):
    overview = await identify_by_loan_number(chat)
    assert "Your loan CC-1001" in overview and "Days past due: 75" in overview
    review = await answer_situation(chat)
    assert "Monthly income: CN¥9,000.00 (salary)" in review
    assert "Available now: CN¥3,000.00" in review
    budget = await chat.press("All correct")
    assert "= <b>CN¥3,000.00</b> left each month" in budget
    assert "Available for this loan each month: <b>CN¥2,400.00</b>" in budget
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
    assert "Please read the terms of your plan" in terms and "Interest rate charged during the plan" in terms
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
    for payload in ("next:", "pick:job_loss", "pick:temporary"):
        await chat.press_data(data_with_payload(chat, payload))
    await chat.say("4个月")
    await chat.say("1.2万")
    await chat.say("９０００")
    await chat.press_data(data_with_payload(chat, "pick:salary"))
    await chat.say("每月15号")  # the payday, typed
    await chat.press_data(data_with_payload(chat, "pick:total"))
    for answer in ("5200元", "800", "3000", "1"):
        await chat.say(answer)
    await chat.press_data(data_with_payload(chat, "next:"))
    await chat.press_data(data_with_payload(chat, "next:"))
    options_text = chat.text
    assert "年化" in options_text
    await chat.press_data(data_with_payload(chat, "choose:", prefix=True))
    await chat.press_data(data_with_payload(chat, "agree:", prefix=True))
    plans = store.list_plans()
    assert len(plans) == 1 and "年化" in plans[0]["consent_text"]
    assert store.borrower_by_telegram(777)["id"] == plans[0]["borrower_id"]
    with pytest.raises(InviteError, match="already used"):
        store.redeem_invite(token, chat.app.bot_data["conversations"].services.now(), 1)
    await app.shutdown()


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


async def test_an_edited_message_is_noted_not_taken_as_an_answer(chat):
    """Editing "9000" into "777" at a later question changes nothing: a short note, nothing saved."""
    await identify_by_loan_number(chat)
    await chat.press("Continue")
    await chat.press("Lost my job")
    await chat.press("Lasting")
    await chat.say("9000")
    asked, salary = chat.text, chat.button_data("Salary")
    edit = make_text_update(7001, chat.chat_id, chat.user_id, "777", language_code="en")
    edit["edited_message"] = {**edit.pop("message"), "edit_date": 1}
    await chat.app.process_update(Update.de_json(edit, chat.app.bot))
    assert "edited a message" in chat.text and "/back" in chat.text
    saved = store_of(chat).load_conversation(chat.chat_id)
    assert saved["step"] == "income_kind" and saved["data"]["data"]["income"] == "9000.00"
    await chat.press_data(salary)  # the question's buttons are still live
    assert "day of the month" in chat.text and asked != chat.text
