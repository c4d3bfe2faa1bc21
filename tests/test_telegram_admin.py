"""/broadcast from Telegram, through the real Application and the fake Bot API: refused (and
audited) for anyone not in BOT_ADMIN_IDS; for an admin, segment -> template -> count and
sample -> Send -> a recorded broadcast sent in the background and its counts reported."""

from __future__ import annotations

import asyncio

import pytest

from borrower_chat import BorrowerChat
from bot.i18n import Translator
from bot.tg.app import build_application
from bot.turn import Conversations
from fakebot import TOKEN
from fixtures import SHANGHAI, clock, store_of
from lender_data import book
from plans.policy import default_policy

ADMIN = 777


@pytest.fixture
async def app(fake_api, tmp_path):
    store = book(tmp_path / "bot.db")
    conversations = Conversations(store, default_policy(), Translator(), clock, "zh_CN", SHANGHAI)
    application = build_application(
        conversations,
        token=TOKEN,
        base_url="http://fake/bot",
        base_file_url="http://fake/file/bot",
        request=fake_api,
        rate_limit=False,
        admin_ids={ADMIN},
    )
    await application.initialize()
    await application.start()
    yield application
    await application.stop()
    await application.shutdown()
    store.close()


def refusals(app) -> list[dict]:
    return list(store_of(app).db.query("SELECT chat_id, details FROM audit WHERE event = 'admin_command_refused'"))


async def test_broadcast_is_refused_to_anyone_else_and_audited(app, fake_api):
    stranger = BorrowerChat(app, fake_api, chat_id=901, user_id=901, language="en")
    assert await stranger.say("/broadcast") == "Sorry, this command is only for your lender's staff."
    assert len(fake_api.sent_messages(901)) == 1  # the borrower dialogue did not answer too
    await stranger.press_data("adm:send:overdue:overdue_contact_us")  # a forged Send
    assert stranger.text == "Sorry, this command is only for your lender's staff."
    assert [row["chat_id"] for row in refusals(app)] == [901, 901]
    assert '"command": "/broadcast"' in refusals(app)[0]["details"]
    assert store_of(app).db.execute("SELECT count(*) FROM broadcasts").fetchone()[0] == 0


async def test_an_admin_confirms_and_the_broadcast_is_sent(app, fake_api):
    admin = BorrowerChat(app, fake_api, chat_id=ADMIN, user_id=ADMIN, language="en")
    assert "Who should receive it?" in await admin.say("/broadcast")
    assert admin.labels == ["Payment due in 3 days", "Overdue", "All active plans", "Everyone"]
    assert "Which message?" in await admin.press("Overdue")
    assert admin.labels == [
        "Finish setting up",
        "New plans available",
        "Overdue: contact us",
        "Payment due soon",
        "Cancel",
    ]
    confirm = await admin.press("Overdue: contact us")
    assert "Recipients: <b>2</b>" in confirm
    assert "<blockquote><b>A payment on your plan is overdue</b>\nCN¥300.00 of your repayment plan" in confirm
    assert admin.labels == ["Send", "Cancel"]

    assert await admin.press("Send") == "Broadcast #1 started: 2 recipients. I will report here when it is done."
    await asyncio.gather(*app.bot_data["admin_broadcasts"].tasks)
    assert admin.text == "<b>Broadcast #1 finished</b>\nSent 2, blocked 0, failed 0."
    assert [len(fake_api.sent_messages(chat)) for chat in (902, 903)] == [1, 1]
    assert "overdue" in fake_api.last_text(903)
    row = store_of(app).get_broadcast(1)
    assert (row["segment"], row["template"], row["rate"], row["status"]) == (
        "overdue",
        "overdue_contact_us",
        30,
        "finished",
    )

    assert (
        await admin.press_data("adm:send:overdue:overdue_contact_us")
        == "Broadcast #1 was already started from this message."
    )  # a double tap sends nothing more
    assert store_of(app).db.execute("SELECT count(*) FROM broadcasts").fetchone()[0] == 1
    assert refusals(app) == []


async def test_a_template_the_segment_cannot_fill_is_not_offered_for_sending(app, fake_api):
    admin = BorrowerChat(app, fake_api, chat_id=ADMIN, user_id=ADMIN, language="en")
    await admin.say("/broadcast")
    await admin.press("Everyone")
    text = await admin.press("Payment due soon")
    assert text.startswith("This message cannot be sent to 2 recipients in <b>all</b>")
    assert admin.labels == []


async def test_nobody_to_message_and_cancel(app, fake_api):
    store_of(app).db.execute("UPDATE borrowers SET unreachable_at = '2026-11-01T00:00:00.000000+00:00' WHERE id = 1")
    admin = BorrowerChat(app, fake_api, chat_id=ADMIN, user_id=ADMIN, language="zh-hans")
    await admin.say("/broadcast")
    await admin.press("3 天后到期")
    assert (
        await admin.press("新的还款方案")
        == "客户群 <b>due-in:3</b> 中目前没有可以联系的客户（1 位屏蔽了机器人，0 位从未打开对话或尚未完成身份验证）。"
    )
    await admin.say("/broadcast")
    await admin.press("所有客户")
    assert await admin.press("取消") == "已取消，没有发送任何消息。"
    assert await admin.press_data("adm:send:all:") == "已取消，没有发送任何消息。"  # stale or forged
    assert store_of(app).db.execute("SELECT count(*) FROM broadcasts").fetchone()[0] == 0
