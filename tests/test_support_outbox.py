"""Answering borrowers from the web console: the queue, a reply written in the console and
delivered by the bot (the real Application, the fake Bot API) through the support outbox, the
support group seeing it and answering too, closing the hand-off, and every way delivery can
fail - each shown to the agent."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from starlette.testclient import TestClient
from telegram import Update

from borrower_chat import BorrowerChat, identify, make_bot_app
from bot.config import Settings
from bot.i18n import Translator
from bot.support.auth import add_user
from bot.support.transcripts import as_json, as_text, build_transcript
from bot.support.web import create_app
from bot.tg.support_outbox import run_outbox
from fakebot import make_text_update
from fixtures import Clock

SUPPORT = -100777
AGENT = 9001
PASSWORD = "correct horse battery"
CHAT = 501


START = datetime(2026, 11, 28, 2, 30, tzinfo=UTC)  # 10:30 in Shanghai: support is open


@pytest.fixture
async def desk(fake_api, tmp_path, request):
    """A borrower waiting for a person at "temporary or lasting?", the bot, and the console
    (with the support group SUPPORT, unless the test asks for another with `indirect`)."""
    clock = Clock(START)
    app, store = await make_bot_app(
        fake_api,
        tmp_path / "bot.db",
        support_chat_id=getattr(request, "param", SUPPORT),
        now=clock,
        default_locale="en",
    )
    add_user(store, "alice", PASSWORD, n=2**10)
    chat = BorrowerChat(app, fake_api)
    await identify(chat)
    await chat.press("Continue")
    await chat.press("Lost my job")
    assert "Do you expect this to be temporary" in chat.text
    await chat.say("/human")
    settings = Settings(_env_file=None, database=str(tmp_path / "bot.db"), default_locale="en")
    console = create_app(store, settings, Translator(), clock=clock)
    with TestClient(console, follow_redirects=False) as browser:
        page = browser.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        assert browser.post("/login", data={"csrf": csrf, "name": "alice", "password": PASSWORD}).status_code == 303
        yield Desk(chat, app, store, browser, clock)
    await app.shutdown()


class Desk:
    def __init__(self, chat, app, store, browser, clock) -> None:
        self.chat, self.app, self.store, self.browser, self.clock = chat, app, store, browser, clock
        self.fake = chat.fake

    def csrf(self) -> str:
        return re.search(r'name="csrf" value="([^"]+)"', self.browser.get(f"/conversations/{CHAT}").text).group(1)

    def reply(self, text: str):
        return self.browser.post(f"/conversations/{CHAT}/reply", data={"text": text, "csrf": self.csrf()})

    def close(self):
        return self.browser.post(f"/conversations/{CHAT}/close", data={"csrf": self.csrf()})

    async def deliver(self):
        return await run_outbox(self.app.bot, self.app.bot_data["conversations"])

    def live(self) -> str:
        return self.browser.get(f"/conversations/{CHAT}/live").text

    def group(self) -> list[dict]:
        return self.fake.sent_messages(SUPPORT)

    async def group_says(self, text: str, reply_to: int, update_id: int) -> None:
        data = make_text_update(update_id, SUPPORT, AGENT, text, language_code="en")
        data["message"]["chat"] = {"id": SUPPORT, "type": "supergroup", "title": "Support"}
        data["message"]["from"]["first_name"] = "Wei"
        data["message"]["reply_to_message"] = {
            "message_id": reply_to,
            "date": 0,
            "chat": data["message"]["chat"],
            "text": "card",
        }
        await self.app.process_update(Update.de_json(data, self.app.bot))


def test_the_queue_lists_who_waits_oldest_first_with_why_and_how_long(desk):
    desk.clock.advance(minutes=12)
    page = desk.browser.get("/queue")
    assert page.status_code == 200 and '<meta http-equiv="refresh" content="5">' in page.text
    row = page.text.split('id="queue-501"')[1].split("</tr>")[0]
    assert "the borrower asked for a person" in row and "12 minutes" in row and "CC-1001" in row
    assert "not yet" in row and "王**" in row and "王小明" not in page.text
    assert "Waiting for a person: 1" in page.text
    assert "phone" not in desk.store.waiting_for_person()[0]  # the queue shows none: none is read
    chinese = desk.browser.get("/queue?lang=zh_CN").text
    assert "等待人工客服的会话" in chinese and "借款人要求转人工" in chinese and "12分钟" in chinese
    page = desk.browser.get(f"/conversations/{CHAT}").text  # still in Chinese (the cookie)
    assert "发送给借款人" in page and "结束人工服务" in page and "从离开时的步骤（outlook）继续" in page
    assert "自 10:30 起等待人工客服（12分钟）" in desk.live()


async def test_a_reply_from_the_console_reaches_the_borrower_and_the_group_sees_it(desk):
    card = desk.store.open_ticket_for_chat(CHAT)["card_message_id"]
    response = desk.reply("We can pause your payments for 3 months <b>if</b> you agree.")
    assert response.status_code == 303 and response.headers["location"] == f"/conversations/{CHAT}#handoff"
    assert "waiting to be sent" in desk.live()
    before = len(desk.fake.sent_messages(CHAT))
    assert await desk.deliver() == {"done": 1}
    assert (
        desk.fake.sent_messages(CHAT)[before:][0]["text"]
        == "<b>Our team:</b> We can pause your payments for 3 months &lt;b&gt;if&lt;/b&gt; you agree."
    )
    mirrored = desk.group()[-1]
    assert "alice replied from the web console: We can pause your payments" in mirrored["text"]
    assert mirrored["reply_parameters"]["message_id"] == card
    live = desk.live()
    assert "delivered at" in live and "alice (support team)" in live and "We can pause your payments" in live
    assert await desk.deliver() == {}  # done once
    entries = build_transcript(desk.store, desk.app.bot_data["conversations"].services.zone, chat_id=CHAT)
    assert "alice (support):\n    Our team: We can pause your payments" in as_text(entries)
    assert '"agent": "alice"' in as_json(entries)

    # the borrower answers: it reaches the group, and the console's live view
    await desk.chat.say("Thank you, that would help a lot")
    assert "Thank you, that would help a lot" in desk.live()
    # an agent in the group answers the console's message: the borrower gets it, the console shows it
    mirrored_id = desk.store.db.execute("SELECT max(support_message_id) FROM relayed_messages").fetchone()[0]
    await desk.group_says("Wei here: I have noted it.", reply_to=mirrored_id, update_id=7001)
    assert desk.chat.text == "<b>Our team:</b> Wei here: I have noted it."
    live = desk.live()
    assert "Wei (in the Telegram group)" in live and "Wei here: I have noted it." in live
    queue_row = desk.browser.get("/queue").text.split('id="queue-501"')[1].split("</tr>")[0]
    assert "not yet" not in queue_row


async def test_closing_from_the_console_returns_the_borrower_to_the_step_they_left(desk):
    assert desk.reply("Done: your payments are paused.").status_code == 303
    assert desk.close().status_code == 303
    page = desk.browser.get(f"/conversations/{CHAT}").text
    assert 'id="closing"' in page and 'id="reply-form"' not in page
    queue = desk.browser.get("/queue").text
    assert "Closing: the borrower goes back" in queue.split('id="queue-501"')[1].split("</tr>")[0]
    assert "Waiting for a person: 1" in queue
    before = len(desk.fake.sent_messages(CHAT))
    assert await desk.deliver() == {"done": 2}
    texts = [m["text"] for m in desk.fake.sent_messages(CHAT)[before:]]
    assert texts[0] == "<b>Our team:</b> Done: your payments are paused."  # the reply first, then the close
    assert "finished" in texts[1] and "Do you expect this to be temporary" in texts[-1]
    assert "was closed by alice in the web console" in desk.group()[-1]["text"]
    assert desk.store.open_ticket_for_chat(CHAT) is None
    queue = desk.browser.get("/queue").text
    assert "Nobody is waiting for a person." in queue and "Waiting for a person: 0" in queue
    page = desk.browser.get(f"/conversations/{CHAT}").text
    assert "closed at" in page and "the borrower is back with the assistant" in page
    await desk.chat.press("Temporary")  # the dialogue goes on where it stopped
    assert "how many months" in desk.chat.text
    # a reply after the close is refused, and kept in the form
    refused = desk.reply("One more thing")
    assert refused.status_code == 409 and "no longer waiting for a person" in refused.text
    assert "One more thing" in refused.text.split('id="unsent"')[1].split("</p>")[0]
    assert await desk.deliver() == {}


async def test_a_borrower_who_blocked_the_bot_is_shown_as_not_delivered(desk):
    desk.reply("Are you still there?")
    desk.fake.fail_next("sendMessage", error_code=403)
    assert await desk.deliver() == {"failed": 1}
    assert "not delivered: the borrower has blocked the bot" in desk.live()
    assert desk.store.get_borrower(1)["unreachable_at"] is not None


async def test_network_errors_are_retried_and_telegram_asking_to_slow_down_is_obeyed(desk):
    desk.reply("First")
    desk.reply("Second")
    desk.fake.fail_next("sendMessage", error_code=502)
    assert await desk.deliver() == {"pending": 1}  # and the second waits behind the first
    assert "trying again after: network" in desk.live()
    assert await desk.deliver() == {}  # not yet due
    desk.clock.advance(seconds=6)
    desk.fake.fail_next("sendMessage", error_code=429, retry_after=30)
    assert await desk.deliver() == {"slowed": 1}
    desk.clock.advance(seconds=31)
    assert await desk.deliver() == {"done": 2}
    texts = [m["text"] for m in desk.fake.sent_messages(CHAT)[-2:]]
    assert texts == ["<b>Our team:</b> First", "<b>Our team:</b> Second"]


async def test_a_reply_to_a_hand_off_closed_in_the_group_meanwhile_is_not_sent(desk):
    card = desk.store.open_ticket_for_chat(CHAT)["card_message_id"]
    desk.reply("Let me check")
    await desk.group_says("/close", reply_to=card, update_id=7002)  # the group is quicker
    assert "Ticket closed" in desk.group()[-1]["text"]
    before = len(desk.fake.sent_messages(CHAT))
    assert await desk.deliver() == {"failed": 1}
    assert len(desk.fake.sent_messages(CHAT)) == before
    page = desk.browser.get(f"/conversations/{CHAT}").text
    assert "not delivered: the hand-off had already been closed" in page
    assert "Wei (in the Telegram group)" in page and "closed at" in page


async def test_an_action_left_half_done_by_a_dead_process_is_done_again(desk):
    desk.reply("Hello from the console")
    action = desk.store.due_support_actions(desk.clock(), 10)[0]
    assert desk.store.claim_support_action(action["id"], desk.clock())  # ... and the process died
    assert await desk.deliver() == {}
    desk.clock.advance(minutes=6)
    assert await desk.deliver() == {"done": 1}
    assert desk.chat.text == "<b>Our team:</b> Hello from the console"


def test_bad_replies_are_refused_with_the_reason(desk):
    for text, status in (("   ", 400), ("x" * 3501, 400)):
        response = desk.reply(text)
        assert response.status_code == status and "A reply needs some text" in response.text
    assert desk.browser.post(f"/conversations/{CHAT}/reply", data={"text": "hi", "csrf": "forged"}).status_code == 403
    assert desk.browser.post("/conversations/999/reply", data={"text": "hi", "csrf": desk.csrf()}).status_code == 404
    assert desk.store.support_actions(CHAT) == []


def test_the_live_view_may_be_framed_by_the_console_only(desk):
    live = desk.browser.get(f"/conversations/{CHAT}/live")
    assert live.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'self'" in live.headers["content-security-policy"]
    assert "script-src" not in live.headers["content-security-policy"]
    assert '<meta http-equiv="refresh" content="3">' in live.text
    page = desk.browser.get(f"/conversations/{CHAT}")
    assert page.headers["x-frame-options"] == "DENY" and "frame-src 'self'" in page.headers["content-security-policy"]
    assert f'src="/conversations/{CHAT}/live"' in page.text


def test_the_outbox_runs_in_the_bot_application(desk):
    jobs = desk.app.job_queue.get_jobs_by_name("support outbox")
    assert len(jobs) == 1


@pytest.mark.parametrize("desk", [None], indirect=True)
async def test_without_a_support_group_the_console_alone_answers(desk):
    desk.reply("Hello, I am Alice from the support team.")
    assert await desk.deliver() == {"done": 1}
    assert desk.chat.text == "<b>Our team:</b> Hello, I am Alice from the support team."
    desk.close()
    assert await desk.deliver() == {"done": 1}
    assert "Do you expect this to be temporary" in desk.chat.text
    assert desk.fake.sent_messages(SUPPORT) == []
