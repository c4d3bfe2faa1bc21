"""Hand-off to a person through the real Application and the fake Bot API: the card in the
support group, the borrower's messages threaded under it, the agent's reply relayed back,
/close returning the borrower to the step they left, and nothing relayed from other chats."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from telegram import Update

from borrower_chat import BorrowerChat, identify, make_bot_app
from bot.i18n import plain_text
from fakebot import make_text_update

SUPPORT = -100777
AGENT = 9001


@pytest.fixture
def app_options():
    """`chat` (the shared fixture) with a support group, in English."""
    return {"support_chat_id": SUPPORT, "default_locale": "en"}


async def group_message(chat, text, reply_to, *, group=SUPPORT, update_id):
    data = make_text_update(update_id, group, AGENT, text, language_code="en")
    data["message"]["chat"] = {"id": group, "type": "supergroup", "title": "Support"}
    if reply_to is not None:
        data["message"]["reply_to_message"] = {
            "message_id": reply_to,
            "date": 0,
            "chat": data["message"]["chat"],
            "text": "card",
        }
    await chat.app.process_update(Update.de_json(data, chat.app.bot))


def card_message_id(chat):
    ticket = chat.app.bot_data["conversations"].store.open_ticket_for_chat(chat.chat_id)
    assert ticket["card_message_id"] is not None
    return ticket["card_message_id"]


def support_messages(chat):
    return chat.fake.sent_messages(SUPPORT)


async def identified(chat):
    await identify(chat)
    await chat.press("Continue")
    await chat.press("Lost my job")


async def test_the_whole_handoff_loop(chat):
    await identified(chat)
    assert "Do you expect this to be temporary" in chat.text
    reply = await chat.say("/human")
    assert "asked a member of our team" in reply
    card = support_messages(chat)[-1]
    assert "Ticket #1" in card["text"] and "CC-1001" in card["text"] and "lost my job" in card["text"]
    assert "13800138000" not in card["text"] and "8000" in card["text"]  # phone masked to its last 4
    card_id = card_message_id(chat)

    await chat.say("I lost my job last month, can you help?")
    relayed = support_messages(chat)[-1]
    assert "borrower writes: I lost my job last month" in relayed["text"]
    assert relayed["reply_parameters"]["message_id"] == card_id

    await group_message(chat, "Of course. We can pause payments for 3 months.", card_id, update_id=5001)
    assert chat.text == "<b>Our team:</b> Of course. We can pause payments for 3 months."

    await group_message(chat, "/close", card_id, update_id=5002)
    assert "finished" in chat.text
    assert "Do you expect this to be temporary" in chat.text  # back at the step they left
    assert "Ticket closed" in support_messages(chat)[-1]["text"]
    store = chat.app.bot_data["conversations"].store
    transcript = [
        row["text"] for row in store.db.query("SELECT text FROM messages WHERE chat_id = ? ORDER BY id", [chat.chat_id])
    ]
    assert any("Our team:" in text for text in transcript)
    assert any("I lost my job last month" in text for text in transcript)
    assert store.open_ticket_for_chat(chat.chat_id) is None
    await chat.press("Temporary")
    assert "how many months" in chat.text


async def test_replies_from_other_chats_are_not_relayed(chat):
    await identified(chat)
    await chat.say("/human")
    card_id = card_message_id(chat)
    before = len(chat.fake.sent_messages(chat.chat_id))
    await group_message(chat, "I am not support", card_id, group=-100555, update_id=5003)
    assert len(chat.fake.sent_messages(chat.chat_id)) == before
    assert chat.app.bot_data["conversations"].store.open_ticket_for_chat(chat.chat_id) is not None


async def test_a_reply_to_nothing_known_gets_a_hint(chat):
    await group_message(chat, "hello?", 424242, update_id=5004)
    assert "no open ticket" in support_messages(chat)[-1]["text"]


async def test_a_reply_that_did_not_reach_the_borrower_is_reported_to_the_group_as_html(chat):
    """The error in the notice is escaped HTML, so it goes out with parse_mode HTML and the team
    reads `&` and quotes as they are (not `&amp;`)."""
    await identified(chat)
    await chat.say("/human")
    chat.fake.fail_next("sendMessage", error_code=403, description='Forbidden: blocked by "Tom & Jerry"')
    await group_message(chat, "Are you still there?", card_message_id(chat), update_id=5005)
    notice = support_messages(chat)[-1]
    assert notice.get("parse_mode") == "HTML"
    assert 'did not reach the borrower (blocked: Forbidden: blocked by "Tom & Jerry")' in plain_text(notice["text"])


async def test_repeated_errors_offer_a_person(chat):
    await identified(chat)
    await chat.press("Temporary")
    for _ in range(3):
        await chat.say("soon")
    assert "A person can help" in chat.text and chat.labels == ["Talk to a person"]
    await chat.press("Talk to a person")
    assert "repeated errors" in support_messages(chat)[-1]["text"]


async def test_outside_support_hours_the_borrower_is_told_when(fake_api, tmp_path):
    late = datetime(2026, 11, 28, 15, 30, tzinfo=UTC)  # 23:30 in Shanghai
    app, _ = await make_bot_app(
        fake_api, tmp_path / "late.db", support_chat_id=SUPPORT, now=lambda: late, default_locale="en"
    )
    chat = BorrowerChat(app, fake_api)
    await chat.say("/start")
    text = await chat.say("/human")
    assert "nobody can answer right now" in text and "from Nov 29, 2026, 09:00" in text
    await app.shutdown()
