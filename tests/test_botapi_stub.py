"""The HTTP Bot API stub answers a real PTB Bot over a real socket, in-process and from a
subprocess."""

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.request

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import Forbidden, NetworkError, TimedOut
from telegram.ext import ApplicationBuilder, MessageHandler, filters

from botapi_stub import BotApiStub
from fakebot import BOT_USERNAME, TOKEN, make_command_update, make_text_update

CHAT = 7001


@pytest.fixture
def stub():
    with BotApiStub() as running:
        yield running


def post_json(url, payload):
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_base_url_is_loopback_with_an_ephemeral_port(stub):
    assert stub.base_url == f"http://127.0.0.1:{stub.port}/bot"
    assert stub.port > 0


async def test_get_me_and_send_message_with_a_real_bot(stub):
    async with Bot(TOKEN, base_url=stub.base_url) as bot:  # initialize() calls getMe
        assert bot.username == BOT_USERNAME
        markup = InlineKeyboardMarkup([[InlineKeyboardButton("Agree", callback_data="agree")]])
        message = await bot.send_message(CHAT, "<b>Hi</b> 123", parse_mode="HTML", reply_markup=markup)
        assert message.message_id == 1 and message.chat.id == CHAT
        assert message.text == "Hi 123"
    sent = stub.wait_for("sendMessage", timeout=2)
    assert sent["chat_id"] == CHAT  # form values are JSON-decoded ...
    assert sent["text"] == "<b>Hi</b> 123"  # ... except free text
    assert sent["reply_markup"] == {"inline_keyboard": [[{"text": "Agree", "callback_data": "agree"}]]}
    assert stub.last_buttons(CHAT) == [[("Agree", "agree")]]
    assert stub.methods()[0] == "getMe"


async def test_numeric_text_stays_a_string(stub):
    async with Bot(TOKEN, base_url=stub.base_url) as bot:
        await bot.send_message(CHAT, "5000")
        await bot.answer_callback_query("12345", text="42")
    assert stub.wait_for("sendMessage", timeout=2)["text"] == "5000"
    assert stub.wait_for("answerCallbackQuery", timeout=2) == {"callback_query_id": "12345", "text": "42"}


async def test_get_updates_round_trip(stub):
    async with Bot(TOKEN, base_url=stub.base_url) as bot:
        first = stub.push_update(make_text_update(11, CHAT, CHAT, "hello"))
        assert first == 11
        updates = await bot.get_updates(offset=0, timeout=5)
        assert [(u.update_id, u.message.text) for u in updates] == [(11, "hello")]
        # not confirmed yet: served again, as Telegram does
        assert [u.update_id for u in await bot.get_updates(timeout=5)] == [11]
        stub.push_update(make_text_update(12, CHAT, CHAT, "again"))
        updates = await bot.get_updates(offset=12, timeout=5)  # confirms 11
        assert [u.message.text for u in updates] == ["again"]

        start = time.monotonic()
        assert await bot.get_updates(offset=13, timeout=30) == ()
        waited = time.monotonic() - start
        assert 0.4 <= waited < 2  # long poll capped at ~0.5 s


async def test_long_poll_returns_as_soon_as_an_update_arrives(stub):
    async with Bot(TOKEN, base_url=stub.base_url) as bot:

        async def push_later():
            await asyncio.sleep(0.1)
            stub.push_update(make_text_update(21, CHAT, CHAT, "late"))

        pusher = asyncio.create_task(push_later())
        start = time.monotonic()
        updates = await bot.get_updates(offset=0, timeout=30)
        await pusher
        assert [u.update_id for u in updates] == [21]
        assert time.monotonic() - start < 0.45


def test_json_bodies_and_bad_paths(stub):
    url = f"http://127.0.0.1:{stub.port}/bot{TOKEN}/sendMessage"
    status, body = post_json(url, {"chat_id": CHAT, "text": "json body"})
    assert status == 200 and body["ok"] is True and body["result"]["text"] == "json body"
    assert stub.last_text(CHAT) == "json body"
    status, body = post_json(f"http://127.0.0.1:{stub.port}/nonsense", {})
    assert status == 404 and body["ok"] is False
    status, body = post_json(f"http://127.0.0.1:{stub.port}/bot{TOKEN}/sendSticker", {})
    assert status == 501 and "does not implement" in body["description"]


def test_token_is_checked_when_given():
    with BotApiStub(token=TOKEN) as strict:
        status, body = post_json(f"http://127.0.0.1:{strict.port}/bot999:WRONG/getMe", {})
        assert status == 401 and body["description"] == "Unauthorized"
        status, body = post_json(f"http://127.0.0.1:{strict.port}/bot{TOKEN}/getMe", {})
        assert status == 200 and body["result"]["username"] == BOT_USERNAME


async def test_multipart_upload(stub):
    async with Bot(TOKEN, base_url=stub.base_url) as bot:
        message = await bot.send_document(CHAT, b"schedule,1\n", filename="plan.csv", caption="Your plan")
        assert message.document.file_name == "plan.csv"
    params = stub.wait_for("sendDocument", timeout=2)
    assert params["chat_id"] == CHAT and params["caption"] == "Your plan"
    assert params["document"].content == b"schedule,1\n"
    assert params["document"].filename == "plan.csv"


async def test_faults_reach_the_bot(stub):
    async with Bot(TOKEN, base_url=stub.base_url) as bot:
        stub.fail_next("sendMessage", error_code=403)
        with pytest.raises(Forbidden, match="blocked"):
            await bot.send_message(CHAT, "x")
        stub.fail_next("sendChatAction", exception=TimedOut())
        with pytest.raises(NetworkError):
            await bot.send_chat_action(CHAT, "typing")
        assert await bot.send_chat_action(CHAT, "typing") is True


def test_wait_for_hands_out_each_call_once_and_times_out(stub):
    url = f"http://127.0.0.1:{stub.port}/bot{TOKEN}/sendMessage"
    for text in ("one", "two", "three"):
        post_json(url, {"chat_id": CHAT, "text": text})
    assert stub.wait_for("sendMessage", timeout=1)["text"] == "one"
    third = stub.wait_for("sendMessage", lambda p: p["text"] == "three", timeout=1)
    assert third["text"] == "three"
    assert stub.wait_for("sendMessage", timeout=1)["text"] == "two"
    with pytest.raises(TimeoutError, match="no matching sendMessage"):
        stub.wait_for("sendMessage", timeout=0.2)


async def test_polling_application_in_process(stub):
    async def echo(update, context):
        await update.message.reply_text(f"echo: {update.message.text}")

    app = ApplicationBuilder().token(TOKEN).base_url(stub.base_url).build()
    app.add_handler(MessageHandler(filters.TEXT, echo))
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0, timeout=10)
        stub.push_update(make_text_update(31, CHAT, CHAT, "ping"))
        reply = await asyncio.to_thread(stub.wait_for, "sendMessage", None, 10)
        await app.updater.stop()
        await app.stop()
    assert reply == {"chat_id": CHAT, "text": "echo: ping"}
    assert "deleteWebhook" in stub.methods()


BOT_SCRIPT = """
import sys
from telegram.ext import ApplicationBuilder, CommandHandler, MessageHandler, filters

async def start(update, context):
    await update.message.reply_text("started " + " ".join(context.args))

async def echo(update, context):
    await update.message.reply_text("echo: " + update.message.text)

app = ApplicationBuilder().token(sys.argv[1]).base_url(sys.argv[2]).build()
app.add_handler(CommandHandler("start", start))
app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
app.run_polling(poll_interval=0, timeout=10)
"""


def test_polling_bot_in_a_subprocess(stub, tmp_path):
    script = tmp_path / "echo_bot.py"
    script.write_text(textwrap.dedent(BOT_SCRIPT))
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    proc = subprocess.Popen(
        [sys.executable, str(script), TOKEN, stub.base_url],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        stub.push_update(make_command_update(1, CHAT, CHAT, "start", "TOKEN9"))
        assert stub.wait_for("sendMessage", timeout=20)["text"] == "started TOKEN9"
        stub.push_update(make_text_update(2, CHAT, CHAT, "crossing processes"))
        assert stub.wait_for("sendMessage", timeout=10)["text"] == "echo: crossing processes"
    finally:
        proc.terminate()
        output, _ = proc.communicate(timeout=10)
    assert stub.methods()[:2] == ["getMe", "deleteWebhook"], output
