"""Abuse, through the real Application and the fake Bot API over a real SQLite file (and, for
the webhook, the real `restructure-bot run` process against the HTTP Bot API stub):

* forged callback data: another plan's option, another borrower's loan, another chat's menu,
  garbage, and lender buttons;
* a second Telegram account on a verified loan, and group chats (one line asking to talk privately);
* identification brute force: locked after 5 failures within the hour;
* invitation tokens used, expired (before or during identification), unknown, or shared by
  someone else;
* lender and support-group actions from ordinary users and other chats;
* webhook calls without, or with a wrong, secret token.

Each is refused, audited where the code audits it, and reveals nothing: no loan number,
amount, name or phone of the victim reaches the attacker's chat.
"""

from __future__ import annotations

import html
import json
import socket
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from telegram import Update

from borrower_chat import BorrowerChat, answer_situation, identify, make_bot_app, to_options
from bot.demo import load_demo
from bot.store import Store
from bot_process import bot_env, free_port, post_update
from botapi_stub import BotApiStub
from fakebot import make_command_update, make_text_update
from fixtures import NOW, Clock, store_of

SUPPORT = -100777
VICTIM = 501
ATTACKER = 601
#: What must never reach anyone but the card holder of CC-1001 (a demo loan): its number, its
#: amounts (outstanding, overdue, interest, penalties, usual payment), the holder's name, phone.
SECRETS = ("CC-1001", "42,000", "8,270.30", "1,450.30", "820.00", "3,200", "王小明", "13800138000", "138 0013")


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
async def app(fake_api, tmp_path, clock):
    application, _ = await make_bot_app(
        fake_api, tmp_path / "bot.db", now=clock, support_chat_id=SUPPORT, default_locale="en"
    )
    yield application
    await application.shutdown()


def audit(app, event: str) -> list[dict]:
    return [
        {**row, "details": json.loads(row["details"] or "{}")}
        for row in store_of(app).db.query(
            "SELECT event, chat_id, borrower_id, loan_id, details FROM audit WHERE event = ? ORDER BY id", [event]
        )
    ]


def state(app, chat_id: int) -> dict | None:
    saved = store_of(app).load_conversation(chat_id)
    return saved["data"] if saved else None


def assert_nothing_revealed(fake, chat_id: int, secrets=SECRETS) -> None:
    """Neither the texts, nor the buttons, nor any file sent to `chat_id` holds a secret."""
    seen = []
    for message in fake.sent_messages(chat_id):
        seen.append(html.unescape(message.get("text", "")))
        seen.append(json.dumps(message.get("reply_markup"), ensure_ascii=False))
    files = [m for m, p in fake.calls if m in ("sendPhoto", "sendDocument") and str(p.get("chat_id")) == str(chat_id)]
    assert not files
    for secret in secrets:
        assert all(secret not in text for text in seen), (secret, seen)


def menu_of(app, chat_id: int) -> int:
    return state(app, chat_id)["menu"]


# ---------------------------------------------------------------------------- forged callbacks


async def test_a_button_from_another_chat_or_forged_with_the_right_menu_is_refused(app, fake_api):
    victim = BorrowerChat(app, fake_api, chat_id=VICTIM, user_id=VICTIM)
    await to_options(victim)
    victims_buttons = [data for row in fake_api.last_buttons(VICTIM) for _, data in row]
    assert any(":choose:" in data for data in victims_buttons)

    attacker = BorrowerChat(app, fake_api, chat_id=ATTACKER, user_id=ATTACKER)
    await attacker.say("/start")
    before = state(app, ATTACKER)
    for data in victims_buttons:  # the victim's buttons, copied as they are
        await attacker.press_data(data)
        assert "no longer active" in attacker.text
    # The same payloads under the attacker's own current menu number: forged, and audited.
    for data in victims_buttons:
        payload = data.partition(":")[2]
        await attacker.press_data(f"{menu_of(app, ATTACKER)}:{payload}")
        assert "no longer active" in attacker.text
    after = state(app, ATTACKER)
    assert (
        (after["step"], after["borrower_id"], after["loan_id"], after["chosen"], after["consented"])
        == ("consent", None, None, None, False)
        == (before["step"], before["borrower_id"], before["loan_id"], before["chosen"], before["consented"])
    )
    forged = [row for row in audit(app, "forged_callback") if row["chat_id"] == ATTACKER]
    assert [row["details"]["payload"] for row in forged] == [data.partition(":")[2] for data in victims_buttons]
    assert store_of(app).list_plans() == []
    assert_nothing_revealed(fake_api, ATTACKER)


async def test_another_loan_or_another_plan_cannot_be_pressed_into_being(app, fake_api):
    victim = BorrowerChat(app, fake_api, chat_id=VICTIM, user_id=VICTIM)
    await identify(victim)
    # Another borrower's loan (CL-2002 is Emma Li's), forged under the current menu.
    await victim.press_data(f"{menu_of(app, VICTIM)}:loan:CL-2002")
    assert "no longer active" in victim.text and "Your loan CC-1001" in victim.text
    assert state(app, VICTIM)["loan_id"] == "CC-1001"
    assert_nothing_revealed(fake_api, VICTIM, ("CL-2002", "Emma", "18,000", "13900139000"))

    await answer_situation(victim, outlook="Lasting")
    await victim.press("All correct")
    await victim.press("Show me the plans")
    offered = state(app, VICTIM)["options"]
    await victim.press("Choose 1")
    chosen = state(app, VICTIM)["chosen"]
    assert chosen == offered[0]
    # At "I agree": agreeing to another option than the one whose terms are shown is forged.
    for option_id in [o for o in offered if o != chosen] + ["settlement-1", "custom-1"]:
        await victim.press_data(f"{menu_of(app, VICTIM)}:agree:{option_id}")
        assert "no longer active" in victim.text
    assert store_of(app).list_plans() == []
    await victim.press("I agree")
    plans = store_of(app).list_plans()
    assert [p["option_id"] for p in plans] == [chosen]
    # After the agreement: an old "I agree" and forged plan actions change nothing.
    for payload in (f"agree:{chosen}", f"agree:{offered[-1]}", "checkin:change", "paidon:0", "edit:income"):
        await victim.press_data(f"{menu_of(app, VICTIM)}:{payload}")
        assert "no longer active" in victim.text
    assert len(store_of(app).list_plans()) == 1
    assert store_of(app).active_plan_for_loan("CC-1001")["id"] == plans[0]["id"]
    payloads = [row["details"]["payload"] for row in audit(app, "forged_callback")]
    assert payloads[0] == "loan:CL-2002" and "checkin:change" in payloads and "paidon:0" in payloads


@pytest.mark.parametrize(
    "data",
    [
        "",
        ":",
        "::::",
        "x" * 64,
        "999999:agree:level-1",
        "-1:consent:yes",
        "1:consent",
        "0:lang:xx",
        "１:consent:yes",
        "1:consent:yes\x00",
        "1:__init__:x",
        "1:press_agree:x",
        "<b>1</b>:consent:yes",
    ],
)
async def test_garbage_callback_data_gets_a_polite_refusal(app, fake_api, data, caplog):
    attacker = BorrowerChat(app, fake_api, chat_id=ATTACKER, user_id=ATTACKER)
    await attacker.say("/start")
    sent = len(fake_api.sent_messages(ATTACKER))
    await attacker.press_data(data)
    texts = attacker.texts_since(sent)
    assert texts and "no longer active" in texts[0], texts  # a stale menu to the dialogue, even empty data
    assert state(app, ATTACKER)["step"] == "consent" and not state(app, ATTACKER)["consented"]
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert fake_api.calls_to("answerCallbackQuery")  # the spinner always stops


async def test_in_a_group_chat_the_bot_only_asks_to_talk_privately(app, fake_api):
    """A group is not a private conversation: whoever addresses the bot there gets one line
    asking to talk privately, nothing about any loan, and nothing is recorded."""
    group = -4242
    member = BorrowerChat(app, fake_api, chat_id=group, user_id=VICTIM)
    await member.say("/start")
    [line] = member.texts_since(0)
    assert "only talk to borrowers in a private chat" in line and member.labels == []
    await member.say("CC-1001")  # chatter not addressed to the bot: no answer at all
    assert len(fake_api.sent_messages(group)) == 1
    data = make_text_update(9901, group, VICTIM, "1234", language_code="zh-hans")
    data["message"]["reply_to_message"] = {
        "message_id": 1,
        "date": 0,
        "chat": data["message"]["chat"],
        "from": {"id": app.bot.id, "is_bot": True, "first_name": "Bot"},
    }
    await app.process_update(Update.de_json(data, app.bot))  # a reply to the bot, in Chinese
    assert "只在私聊中" in fake_api.last_text(group)
    await member.press_data("1:consent:yes")  # a button from anywhere
    assert fake_api.calls_to("answerCallbackQuery") and "private chat" in fake_api.last_text(group)
    await member.say("/plan")
    assert_nothing_revealed(fake_api, group)
    assert (
        state(app, group) is None
        and store_of(app).db.execute("SELECT count(*) FROM messages WHERE chat_id = ?", [group]).fetchone()[0] == 0
    )
    assert store_of(app).db.execute("SELECT count(*) FROM identification_attempts").fetchone()[0] == 0
    # The same person in a private chat is served as usual.
    private = BorrowerChat(app, fake_api, chat_id=VICTIM, user_id=VICTIM)
    assert "Your loan CC-1001" in await identify(private)


# ---------------------------------------------------------------------------- accounts and identification


async def test_a_second_account_with_the_right_details_is_refused_and_audited(app, fake_api):
    victim = BorrowerChat(app, fake_api, chat_id=VICTIM, user_id=VICTIM)
    await identify(victim)
    attacker = BorrowerChat(app, fake_api, chat_id=ATTACKER, user_id=ATTACKER)
    reply = await identify(attacker)
    assert "already linked to another Telegram account" in reply
    refused = audit(app, "second_account_refused")
    assert [(r["chat_id"], r["borrower_id"]) for r in refused] == [(ATTACKER, 1)]
    # The answer confirms the details were right: it counts towards the lockout.
    assert store_of(app).failed_identifications_by_account(ATTACKER, NOW - timedelta(hours=1)) == 1
    saved = state(app, ATTACKER)
    assert saved["borrower_id"] is None and saved["loan_id"] is None and saved["step"] != "loan"
    for command in ("/plan", "/schedule", "/paid", "/human"):
        await attacker.say(command)
    assert store_of(app).borrower_by_telegram(ATTACKER) is None
    assert store_of(app).get_borrower(1)["telegram_user_id"] == VICTIM
    assert_nothing_revealed(fake_api, ATTACKER)
    # The attacker's hand-off card tells the team nothing about the victim either.
    assert all(secret not in html.unescape(m["text"]) for m in fake_api.sent_messages(SUPPORT) for secret in SECRETS)


async def test_identification_locks_after_five_failures_within_the_hour(app, fake_api, clock):
    attacker = BorrowerChat(app, fake_api, chat_id=ATTACKER, user_id=ATTACKER)
    await attacker.say("/start")
    await attacker.press("I agree")
    answers = []
    for guess in ("0000", "1111", "2222", "3333", "4444"):
        await attacker.say("CC-1001")
        sent = len(fake_api.sent_messages(ATTACKER))
        await attacker.say(guess)
        answers.append(attacker.texts_since(sent))
    for left, texts in zip((4, 3, 2, 1), answers[:4], strict=True):
        counted = "1 attempt left." if left == 1 else f"{left} attempts left."
        assert len(texts) == 1 and counted in texts[0] and "loan or card agreement number" in texts[0]
    assert answers[4] == [
        "Too many unsuccessful attempts. For your security, identification is locked for one hour. "
        "A person from our team can help you now."
    ]
    assert attacker.labels == ["Talk to a person"]
    # The right digits now change nothing, in this conversation or a new one.
    await attacker.say("CC-1001")
    assert "locked" in await attacker.say("1234")
    await attacker.say("/start")
    assert "locked" in await attacker.press("I agree")
    assert store_of(app).borrower_by_telegram(ATTACKER) is None and state(app, ATTACKER)["borrower_id"] is None
    assert len(audit(app, "identification_failed")) == 5
    assert_nothing_revealed(fake_api, ATTACKER)
    clock.advance(minutes=59)
    await attacker.say("/start")
    assert "locked" in await attacker.press("I agree")
    clock.advance(minutes=2)  # the oldest failures are over an hour old
    await attacker.say("/start")
    await attacker.press("I agree")
    await attacker.say("CC-1001")
    assert "Your loan CC-1001" in await attacker.say("1234")


async def test_the_lockout_also_guards_the_invitation_path(app, fake_api, clock):
    store = store_of(app)
    token = store.create_invite("CC-1001", NOW, 14)
    attacker = BorrowerChat(app, fake_api, chat_id=ATTACKER, user_id=ATTACKER)
    await attacker.say(f"/start {token}")
    await attacker.press("I agree")
    for phone in ("8613800000001", "8613800000002", "8613800000003"):
        await attacker.share_contact(phone)  # their own contact, the wrong number
    await attacker.share_contact("8613800138000", contact_user_id=VICTIM)  # the victim's contact card
    assert "not someone else's" in attacker.text
    await attacker.share_contact("8613800138000", contact_user_id=VICTIM)
    assert "locked" in attacker.text
    assert "locked" in await attacker.share_contact("8613800138000")  # even the right one now
    assert store.peek_invite(token, NOW) == "CC-1001"  # not used up by the attacker
    assert [r["details"]["step"] for r in audit(app, "identification_failed")] == ["identify_contact"] * 5
    assert_nothing_revealed(fake_api, ATTACKER)


# ---------------------------------------------------------------------------- invitations


async def test_a_used_invitation_is_refused_to_the_next_chat(app, fake_api):
    store = store_of(app)
    token = store.create_invite("CC-1001", NOW, 14)
    victim = BorrowerChat(app, fake_api, chat_id=VICTIM, user_id=VICTIM)
    await victim.say(f"/start {token}")
    await victim.press("I agree")
    assert "Your loan CC-1001" in await victim.share_contact("8613800138000")

    attacker = BorrowerChat(app, fake_api, chat_id=ATTACKER, user_id=ATTACKER)
    await attacker.say(f"/start {token}")
    assert "already been used" in attacker.texts_since(-2)[0]
    assert state(app, ATTACKER)["invite_loan"] is None
    assert "loan or card agreement number" in await attacker.press("I agree")  # no contact shortcut
    refused = audit(app, "invite_refused")
    assert [(r["chat_id"], r["details"]["reason"]) for r in refused] == [(ATTACKER, "used")]
    assert_nothing_revealed(fake_api, ATTACKER)


@pytest.mark.parametrize(
    ("token", "reason", "words"),
    [
        ("expired", "expired", "has expired"),
        ("nonsense-token", "unknown", "not valid"),
        ("' OR 1=1 --", "unknown", "not valid"),
        ("x" * 300, "unknown", "not valid"),
    ],
)
async def test_expired_and_unknown_invitations_are_refused(app, fake_api, token, reason, words):
    if token == "expired":
        token = store_of(app).create_invite("CC-1001", NOW - timedelta(days=15), 14)
    attacker = BorrowerChat(app, fake_api, chat_id=ATTACKER, user_id=ATTACKER)
    await attacker.say(f"/start {token}")
    assert words in attacker.text
    assert [(r["chat_id"], r["details"]["reason"]) for r in audit(app, "invite_refused")] == [(ATTACKER, reason)]
    assert "loan or card agreement number" in await attacker.press("I agree")
    assert_nothing_revealed(fake_api, ATTACKER)


async def test_an_invitation_that_expires_during_identification_falls_back_to_the_loan_number(app, fake_api, clock):
    store = store_of(app)
    token = store.create_invite("CC-1001", NOW, 14)
    chat = BorrowerChat(app, fake_api, chat_id=777, user_id=777)
    await chat.say(f"/start {token}")
    await chat.press("I agree")
    clock.now = NOW + timedelta(days=14, minutes=1)
    await chat.share_contact("8613800138000")
    assert "has expired" in chat.text and "loan or card agreement number" in chat.text
    assert fake_api.last_message(777)["reply_markup"] == {"remove_keyboard": True}  # the phone button goes
    assert store.borrower_by_telegram(777) is None
    assert store.db.execute("SELECT used_at FROM invites WHERE token = ?", [token]).fetchone()[0] is None
    assert audit(app, "invite_refused")[-1]["details"] == {"reason": "expired", "step": "identify_contact"}
    await chat.say("CC-1001")
    assert "Your loan CC-1001" in await chat.say("1234")


# ---------------------------------------------------------------------------- lender and support actions


async def test_lender_commands_from_borrowers_are_refused_and_audited(app, fake_api):
    victim = BorrowerChat(app, fake_api, chat_id=VICTIM, user_id=VICTIM)
    await identify(victim)
    before = state(app, VICTIM)
    assert await victim.say("/broadcast") == "Sorry, this command is only for your lender's staff."
    assert state(app, VICTIM) == before  # the dialogue never saw it
    stranger = BorrowerChat(app, fake_api, chat_id=ATTACKER, user_id=ATTACKER)
    await stranger.say("/broadcast")
    for data in ("adm:seg:all", "adm:tpl:all:overdue_contact_us", "adm:send:all:overdue_contact_us", "adm:cancel"):
        await stranger.press_data(data)
        assert stranger.text == "Sorry, this command is only for your lender's staff."
    refused = audit(app, "admin_command_refused")
    assert [r["chat_id"] for r in refused] == [VICTIM] + [ATTACKER] * 5
    assert [r["details"]["command"] for r in refused][:2] == ["/broadcast", "/broadcast"]
    assert store_of(app).db.execute("SELECT count(*) FROM broadcasts").fetchone()[0] == 0
    assert_nothing_revealed(fake_api, ATTACKER)


async def _group_says(app, chat_id: int, user_id: int, text: str, reply_to: int | None, update_id: int) -> None:
    data = (
        make_command_update(update_id, chat_id, user_id, text)
        if text.startswith("/")
        else make_text_update(update_id, chat_id, user_id, text, language_code="en")
    )
    data["message"]["chat"] = {"id": chat_id, "type": "supergroup", "title": "Not support"}
    if reply_to is not None:
        data["message"]["reply_to_message"] = {
            "message_id": reply_to,
            "date": 0,
            "chat": data["message"]["chat"],
            "text": "card",
        }
    await app.process_update(Update.de_json(data, app.bot))


async def test_support_group_actions_from_anywhere_else_do_nothing(app, fake_api):
    victim = BorrowerChat(app, fake_api, chat_id=VICTIM, user_id=VICTIM)
    await identify(victim)
    await victim.say("/human")
    ticket = store_of(app).open_ticket_for_chat(VICTIM)
    card = ticket["card_message_id"]
    assert card is not None and state(app, VICTIM)["step"] == "with_person"
    received = len(fake_api.sent_messages(VICTIM))
    # /close, and an "agent reply", in reply to the card but from another group ...
    other_group = -100555
    await _group_says(app, other_group, ATTACKER, "/close", card, 7001)
    await _group_says(app, other_group, ATTACKER, "Your plan is cancelled, pay everything now", card, 7002)
    # ... from the attacker's private chat, and from the borrower themself.
    attacker = BorrowerChat(app, fake_api, chat_id=ATTACKER, user_id=ATTACKER)
    await attacker.say("/close")
    assert "don't know that command" in attacker.texts_since(0)[0]
    await victim.say("/close")
    [waiting] = victim.texts_since(received)
    assert waiting.startswith("A member of our team has your conversation. Just write here")
    assert store_of(app).open_ticket_for_chat(VICTIM)["id"] == ticket["id"]
    assert state(app, VICTIM)["step"] == "with_person"
    assert not [m for m in fake_api.sent_messages(VICTIM) if "<b>Our team:</b>" in m.get("text", "")]
    for chat_id in (other_group, ATTACKER):
        assert_nothing_revealed(fake_api, chat_id)
    assert not audit(app, "agent_replied")


# ---------------------------------------------------------------------------- the webhook

SECRET = "s3cret-Token_42"


@pytest.fixture
def webhook_bot(tmp_path):
    """`restructure-bot run --webhook-url ...` in a subprocess, against the HTTP Bot API stub."""
    with Store(tmp_path / "bot.db") as store:
        load_demo(store)
    port = free_port()
    with BotApiStub() as stub:
        env = bot_env(stub.base_url, tmp_path / "bot.db", BOT_API_FILE_URL=stub.base_url.replace("/bot", "/file/bot"))
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bot",
                "run",
                "--webhook-url",
                f"http://127.0.0.1:{port}/",
                "--listen",
                "127.0.0.1",
                "--port",
                str(port),
                "--secret-token",
                SECRET,
            ],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            registered = stub.wait_for("setWebhook", timeout=60)
            deadline = time.monotonic() + 30
            while True:  # the webhook server listens once setWebhook is done
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
                time.sleep(0.05)
            yield stub, port, registered, process
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_webhook_calls_need_the_secret_token(webhook_bot, tmp_path):
    stub, port, registered, process = webhook_bot
    assert registered["secret_token"] == SECRET and registered["url"] == f"http://127.0.0.1:{port}/"
    forged = make_command_update(1, ATTACKER, ATTACKER, "start", language_code="en")
    assert post_update(port, forged, None, path="") == 403
    assert post_update(port, {**forged, "update_id": 2}, "wrong-token", path="") == 403
    assert post_update(port, {**forged, "update_id": 3}, SECRET.upper(), path="") == 403
    assert post_update(port, {**forged, "update_id": 4}, SECRET[:-1], path="") == 403
    genuine = make_command_update(5, VICTIM, VICTIM, "start", language_code="en")
    assert post_update(port, genuine, SECRET, path="") == 200
    answer = stub.wait_for("sendMessage", lambda p: p["chat_id"] == VICTIM and "reply_markup" in p, timeout=30)
    assert "your privacy" in answer["text"]
    assert [label for label, _ in stub.last_buttons(VICTIM)[0]] == ["I agree", "I do not agree"]
    time.sleep(0.3)
    assert [p for m, p in stub.calls if m == "sendMessage" and p["chat_id"] == ATTACKER] == []
    with Store(tmp_path / "bot.db") as store:  # the refused updates never reached the conversation
        logged = [row["chat_id"] for row in store.db.query("SELECT DISTINCT chat_id FROM messages")]
        assert logged == [VICTIM] and store.load_conversation(ATTACKER) is None
    assert process.poll() is None
