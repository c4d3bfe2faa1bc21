"""The in-process fake Bot API drives the real python-telegram-bot Application."""

import asyncio
import shutil
import socket
import subprocess
import sys
from datetime import timedelta

import pytest
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Conflict, Forbidden, NetworkError, RetryAfter, TimedOut
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from conftest import NetworkBlocked
from fakebot import (
    BOT_USERNAME,
    FakeBotAPI,
    build_application,
    make_callback_update,
    make_command_update,
    make_contact_update,
    make_text_update,
)
from paths import TESTS

CHAT = 5001
USER = 5001


async def echo_app(make_app):
    """A tiny bot: /start shows two buttons, text is echoed, a button press edits the message,
    a shared contact is acknowledged."""

    async def start(update, context):
        keyboard = InlineKeyboardMarkup(
            [[InlineKeyboardButton("Yes", callback_data="yes"), InlineKeyboardButton("No", callback_data="no")]]
        )
        arg = " ".join(context.args)
        await update.message.reply_text(f"Welcome {arg}".strip(), reply_markup=keyboard)

    async def echo(update, context):
        await update.message.reply_text(f"You said: <b>{update.message.text_html}</b>", parse_mode=ParseMode.HTML)

    async def pressed(update, context):
        query = update.callback_query
        await query.answer()
        await query.edit_message_text(f"You chose {query.data}")

    async def contact(update, context):
        await update.message.reply_text(
            f"Phone {update.message.contact.phone_number} from {update.message.contact.user_id}",
            reply_markup=ReplyKeyboardMarkup([[KeyboardButton("Share", request_contact=True)]]),
        )

    app = await make_app()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.CONTACT, contact))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(pressed))
    return app


async def feed(app, data):
    await app.process_update(Update.de_json(data, app.bot))


# ----------------------------------------------------------------- driving a real Application


async def test_initialize_calls_get_me(make_app, fake_api):
    app = await make_app()
    assert fake_api.methods()[0] == "getMe"
    assert app.bot.username == BOT_USERNAME
    assert fake_api.initialized


async def test_text_message_is_answered(make_app, fake_api):
    app = await echo_app(make_app)
    await feed(app, make_text_update(1, CHAT, USER, "hello <there> & you"))
    [sent] = fake_api.sent_messages(CHAT)
    assert sent["method"] == "sendMessage"
    assert sent["chat_id"] == CHAT
    assert sent["parse_mode"] == "HTML"
    assert fake_api.last_text(CHAT) == "You said: <b>hello &lt;there&gt; &amp; you</b>"
    assert fake_api.sent_messages(CHAT + 1) == []


async def test_command_with_deep_link_and_buttons(make_app, fake_api):
    app = await echo_app(make_app)
    update = make_command_update(2, CHAT, USER, "start", "TOKEN42")
    assert update["message"]["text"] == "/start TOKEN42"
    await feed(app, update)
    assert fake_api.last_text(CHAT) == "Welcome TOKEN42"
    assert fake_api.last_buttons(CHAT) == [[("Yes", "yes"), ("No", "no")]]


async def test_button_press_edits_the_message(make_app, fake_api):
    app = await echo_app(make_app)
    await feed(app, make_command_update(1, CHAT, USER, "/start"))
    sent_id = 1  # the fake numbers the bot's messages from 1
    assert fake_api.message(CHAT, sent_id)["reply_markup"]["inline_keyboard"][0][0]["text"] == "Yes"

    press = make_callback_update(2, CHAT, USER, "yes", sent_id, message=fake_api.message(CHAT, 1))
    await feed(app, press)
    assert [m for m, _ in fake_api.calls][-2:] == ["answerCallbackQuery", "editMessageText"]
    assert fake_api.calls_to("answerCallbackQuery") == [{"callback_query_id": "cq2"}]
    edit = fake_api.last_message(CHAT)
    assert edit["method"] == "editMessageText" and edit["message_id"] == sent_id
    assert fake_api.last_text(CHAT) == "You chose yes"
    assert fake_api.last_buttons(CHAT) == []  # the edit dropped the keyboard
    assert fake_api.message(CHAT, sent_id)["text"] == "You chose yes"


async def test_contact_update_and_reply_keyboard(make_app, fake_api):
    app = await echo_app(make_app)
    await feed(app, make_contact_update(3, CHAT, USER, "+8613800000000", USER))
    assert fake_api.last_text(CHAT) == f"Phone +8613800000000 from {USER}"
    assert fake_api.last_buttons(CHAT) == [[("Share", "request_contact")]]


async def test_update_builders_carry_language_and_name(make_app):
    app = await make_app()
    update = Update.de_json(make_text_update(9, CHAT, USER, "hi", language_code="en-GB", first_name="Ann"), app.bot)
    assert update.effective_user.language_code == "en-GB"
    assert update.effective_user.first_name == "Ann"
    assert update.effective_chat.type == "private"
    command = Update.de_json(make_command_update(10, CHAT, USER, "help"), app.bot)
    assert command.message.entities[0].type == "bot_command"
    assert command.message.entities[0].length == len("/help")


# ----------------------------------------------------------------- realistic answers


async def test_send_message_returns_a_message_with_increasing_ids(make_app, fake_api):
    app = await make_app()
    first = await app.bot.send_message(CHAT, "one")
    second = await app.bot.send_message(CHAT, "<i>two</i>", parse_mode="HTML")
    assert (first.message_id, second.message_id) == (1, 2)
    assert first.chat.id == CHAT and first.from_user.username == BOT_USERNAME
    assert second.text == "two"  # what the user sees; the HTML is in the recorded params
    assert fake_api.sent_messages()[1]["text"] == "<i>two</i>"


async def test_bad_html_is_refused_like_telegram(make_app, fake_api):
    app = await make_app()
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await app.bot.send_message(CHAT, "a<br>b", parse_mode="HTML")
    with pytest.raises(BadRequest, match="(?i)can't parse entities"):
        await app.bot.send_message(CHAT, "Tom & Jerry", parse_mode="HTML")
    await app.bot.send_message(CHAT, "Tom & Jerry")  # fine without parse_mode
    with pytest.raises(BadRequest, match="(?i)message text is empty"):
        await app.bot.send_message(CHAT, "   ")
    with pytest.raises(BadRequest, match="(?i)message is too long"):
        await app.bot.send_message(CHAT, "x" * 4097)
    assert len(fake_api.sent_messages(CHAT)) == 1
    assert [code for _, _, code in fake_api.failed_calls] == [400, 400, 400, 400]


async def test_callback_data_over_64_bytes_is_refused(make_app):
    app = await make_app()
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
    with pytest.raises(BadRequest, match="(?i)button_data_invalid"):
        await app.bot.send_message(CHAT, "pick", reply_markup=markup)


async def test_edit_with_identical_content_is_not_modified(make_app, fake_api):
    app = await make_app()
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Go", callback_data="go")]])
    sent = await app.bot.send_message(CHAT, "same", reply_markup=markup)
    with pytest.raises(BadRequest, match="(?i)message is not modified"):
        await app.bot.edit_message_text("same", CHAT, sent.message_id, reply_markup=markup)
    edited = await app.bot.edit_message_reply_markup(CHAT, sent.message_id, reply_markup=None)
    assert edited.reply_markup is None and edited.text == "same"
    assert fake_api.last_buttons(CHAT) == []
    # a message the fake never sent can be edited (tests build such callback updates by hand)
    other = await app.bot.edit_message_text("new", CHAT, 999)
    assert other.message_id == 999 and other.text == "new"


async def test_other_methods(make_app, fake_api):
    app = await make_app()
    assert await app.bot.send_chat_action(CHAT, "typing") is True
    assert await app.bot.set_my_commands([("start", "Start"), ("help", "Help")]) is True
    commands = await app.bot.get_my_commands()
    assert [(c.command, c.description) for c in commands] == [("start", "Start"), ("help", "Help")]
    assert await app.bot.get_my_commands(language_code="en") == ()
    doc = await app.bot.send_document(CHAT, b"%PDF-1.4 plan", filename="plan.pdf", caption="Plan")
    assert doc.document.file_name == "plan.pdf" and doc.document.file_size == 13
    uploaded = fake_api.calls_to("sendDocument")[0]["document"]
    assert uploaded.content == b"%PDF-1.4 plan" and uploaded.filename == "plan.pdf"
    photo = await app.bot.send_photo(CHAT, b"\x89PNG....", caption="chart")
    assert photo.photo[0].width == 800
    assert await app.bot.delete_message(CHAT, doc.message_id) is True
    assert await app.bot.get_updates() == ()
    assert await app.bot.set_webhook("https://example.invalid/hook") is True
    assert await app.bot.delete_webhook() is True
    assert await app.bot.log_out() is True
    assert await app.bot.close() is True


async def test_unknown_method_is_a_clear_failure(fake_api):
    fake = FakeBotAPI()
    app = build_application(fake)
    await app.initialize()
    try:
        with pytest.raises(NetworkError, match="does not implement Bot API method 'sendTelepathy'"):
            await app.bot.do_api_request("sendTelepathy", api_kwargs={"chat_id": CHAT})
        assert [m for m, _ in fake.unknown_calls] == ["sendTelepathy"]
    finally:
        await app.shutdown()


async def test_get_updates_serves_pushed_updates_until_confirmed(make_app, fake_api):
    app = await make_app()
    first = fake_api.push_update(make_text_update(7, CHAT, USER, "a"))
    second = fake_api.push_update({k: v for k, v in make_text_update(0, CHAT, USER, "b").items() if k != "update_id"})
    assert first == 7 and second == 1  # an update without an id gets one
    updates = await app.bot.get_updates()
    assert [u.message.text for u in updates] == ["a", "b"]
    again = await app.bot.get_updates(offset=2)
    assert [u.update_id for u in again] == [7]  # 1 was confirmed by offset=2, 7 was not
    assert await app.bot.get_updates(offset=8) == ()


async def test_polling_application_processes_pushed_updates(make_app, fake_api):
    app = await echo_app(make_app)
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=1)
    fake_api.push_update(make_text_update(100, CHAT, USER, "polled"))
    for _ in range(200):
        if fake_api.sent_messages(CHAT):
            break
        await asyncio.sleep(0.01)
    await app.updater.stop()
    assert fake_api.last_text(CHAT) == "You said: <b>polled</b>"
    assert fake_api.calls_to("getUpdates")[-1]["offset"] == 101  # PTB confirmed the update
    assert not fake_api.has_updates()


# ----------------------------------------------------------------- fault injection


async def test_forbidden_when_the_user_blocked_the_bot(make_app, fake_api):
    app = await make_app()
    fake_api.fail_next("sendMessage", error_code=403, description="Forbidden: bot was blocked by the user")
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await app.bot.send_message(CHAT, "hello")
    assert (await app.bot.send_message(CHAT, "hello again")).text == "hello again"
    assert [p["text"] for p in fake_api.sent_messages(CHAT)] == ["hello again"]
    assert [p["text"] for p in fake_api.calls_to("sendMessage")] == ["hello", "hello again"]


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_flood_control_raises_retry_after(make_app, fake_api):
    app = await make_app()
    fake_api.fail_next("sendMessage", error_code=429, retry_after=7, times=2)
    for _ in range(2):
        with pytest.raises(RetryAfter) as caught:
            await app.bot.send_message(CHAT, "x")
        retry_after = caught.value.retry_after  # int in PTB 22, timedelta from PTB 23
        assert (retry_after.total_seconds() if isinstance(retry_after, timedelta) else retry_after) == 7
    await app.bot.send_message(CHAT, "x")
    assert [code for _, _, code in fake_api.failed_calls] == [429, 429]


async def test_other_injected_failures(make_app, fake_api):
    app = await make_app()
    fake_api.fail_next("editMessageText", error_code=400, description="Bad Request: message to edit not found")
    with pytest.raises(BadRequest, match="(?i)message to edit not found"):
        await app.bot.edit_message_text("x", CHAT, 1)
    fake_api.fail_next("getUpdates", error_code=409)
    with pytest.raises(Conflict):
        await app.bot.get_updates()
    fake_api.fail_next("sendMessage", exception=TimedOut())
    with pytest.raises(TimedOut):
        await app.bot.send_message(CHAT, "x")
    fake_api.fail_next("sendChatAction", error_code=502)
    with pytest.raises(NetworkError):
        await app.bot.send_chat_action(CHAT, "typing")


async def test_latency_is_awaited():
    fake = FakeBotAPI(latency=0.05)
    app = build_application(fake)
    await app.initialize()
    try:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.gather(*(app.bot.send_message(CHAT, str(i)) for i in range(5)))
        elapsed = loop.time() - start
        assert 0.05 <= elapsed < 0.25  # concurrent requests wait concurrently
        assert sorted(p["text"] for p in fake.sent_messages(CHAT)) == ["0", "1", "2", "3", "4"]
    finally:
        await app.shutdown()


def test_clear_forgets_the_record_but_not_the_messages():
    fake = FakeBotAPI()
    status, body = fake.handle("sendMessage", {"chat_id": CHAT, "text": "hi"})
    assert status == 200 and body["result"]["message_id"] == 1
    fake.fail_next("sendMessage", error_code=403)
    fake.clear()
    assert fake.calls == [] and fake.sent_messages() == []
    assert fake.message(CHAT, 1)["text"] == "hi"
    status, body = fake.handle("sendMessage", {"chat_id": CHAT, "text": "hi"})
    assert status == 403 and body == {
        "ok": False,
        "error_code": 403,
        "description": "Forbidden: bot was blocked by the user",
    }


# ----------------------------------------------------------------- the network guard


def test_network_guard_blocks_remote_addresses(network_guard):
    with pytest.raises(NetworkBlocked):
        socket.create_connection(("93.184.216.34", 80), timeout=1)
    with pytest.raises(NetworkBlocked):
        socket.getaddrinfo("api.telegram.org", 443)
    sock = socket.socket()
    try:
        with pytest.raises(NetworkBlocked):
            sock.connect(("8.8.8.8", 53))
    finally:
        sock.close()
    assert len(network_guard.attempts) == 3
    network_guard.attempts.clear()  # the blocks were expected; don't fail this test


def test_network_guard_allows_loopback():
    server = socket.create_server(("127.0.0.1", 0))
    try:
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            pass
        with socket.create_connection(("localhost", port), timeout=1):
            pass
    finally:
        server.close()


def test_network_guard_fails_a_test_that_swallowed_the_error(tmp_path):
    for name in ("conftest.py", "fakebot.py", "fixtures.py"):
        shutil.copy(TESTS / name, tmp_path / name)
    (tmp_path / "test_sneaky.py").write_text(
        "import socket\n"
        "def test_sneaky():\n"
        "    try:\n"
        "        socket.create_connection(('93.184.216.34', 80), timeout=1)\n"
        "    except Exception:\n"
        "        pass\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 1 error" in result.stdout
    assert "test tried to reach the network" in result.stdout
    assert "93.184.216.34" in result.stdout
