"""Crash-safety of the real `restructure-bot run` process: 30 scripted conversations against a
local HTTP Bot API stub while the process is SIGKILLed at random moments and restarted.

Every conversation must end with the plan it would have had without the kills (the engine's
first option for the same answers), no plan may be recorded twice, no incoming message may be
missing from the log, every reply must have been delivered, and the database must pass
`PRAGMA integrity_check`. Set CRASH_KILLS (default 8) for a longer run by hand.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from collections import Counter
from datetime import date
from decimal import Decimal

from bot.services import loan_from_record
from bot.store import Store
from bot_process import BotProcess, bot_env
from botapi_stub import BotApiStub
from dialogs.answers import case_from
from dialogs.steps import Collected
from fakebot import TOKEN, make_callback_update, make_command_update, make_text_update
from plans.engine import quote
from plans.models import HardshipReason, IncomeKind, Outlook
from plans.policy import default_policy

CONVERSATIONS = 30
KILLS = int(os.environ.get("CRASH_KILLS", "8"))
STEP_TIMEOUT = 60


def script(i: int) -> list[tuple[str, str]]:
    income = str(9000 + 100 * i)
    return [
        ("command", "/start"),
        ("press", "I agree"),
        ("text", f"CS-{i:04d}"),
        ("text", "1234"),
        ("press", "Continue"),
        ("press", "Lost my job"),
        ("press", "Temporary"),
        ("text", "4"),
        ("text", "12000"),
        ("text", income),
        ("press", "Salary"),
        ("text", "5"),
        ("press", "One total"),
        ("text", "5200"),
        ("text", "800"),
        ("text", "3000"),
        ("text", "1"),
        ("press", "All correct"),
        ("press", "Show me the plans"),
        ("press", "Choose 1"),
        ("press", "I agree"),
    ]


def expected_option(store: Store, i: int) -> str:
    answers = Collected(
        reason=HardshipReason.job_loss,
        outlook=Outlook.temporary,
        recovery_months=4,
        income_after=Decimal("12000"),
        income=Decimal(9000 + 100 * i),
        income_kind=IncomeKind.salary,
        expenses_itemised=False,
        expenses_total=Decimal("5200"),
        other_debts=Decimal("800"),
        savings=Decimal("3000"),
        dependants=1,
    )
    loan = loan_from_record(store.get_loan(f"CS-{i:04d}"))
    return quote(case_from(loan, answers, date.today()), default_policy()).options[0].option_id


def test_conversations_survive_random_sigkills(tmp_path):
    database = tmp_path / "crash.db"
    store = Store(database)
    for i in range(CONVERSATIONS):
        store.upsert_borrower_and_loan(
            {
                "loan_id": f"CS-{i:04d}",
                "borrower_name": f"Borrower {i}",
                "phone": f"+86138{i:08d}",
                "id_last4": "1234",
                "product": "credit_card",
                "currency": "CNY",
                "outstanding_principal": "42000",
                "overdue_principal": "6000",
                "overdue_interest": "1450.30",
                "penalty_fees": "820",
                "annual_rate": "0.18",
                "monthly_payment": "3200",
                "remaining_term_months": 18,
                "days_past_due": 75,
                "next_due_date": "2026-12-05",
            }
        )
    expected = {f"CS-{i:04d}": expected_option(store, i) for i in range(CONVERSATIONS)}
    store.close()

    with BotApiStub(token=TOKEN, max_poll_wait=0.2) as stub:
        bot = BotProcess(bot_env(stub.base_url, database), tmp_path)
        bot.ensure_running()
        rng = random.Random(20261128)
        scripts = {i: script(i) for i in range(CONVERSATIONS)}
        # Each kill falls at a random step, a random moment after that step's updates were pushed
        # (while the bot is handling them), so all KILLS happen however fast the bot is.
        kills_at = Counter(rng.randrange(len(scripts[0])) for _ in range(KILLS))
        db = sqlite3.connect(database, timeout=30)
        pushed: list[int] = []
        update_ids = iter(range(1, 100_000))
        try:
            for step in range(len(scripts[0])):
                # All conversations take this step at once; the next waits for every answer.
                waiting = []
                for i in range(CONVERSATIONS):
                    chat = 700_000 + i
                    kind, value = scripts[i][step]
                    uid = next(update_ids)
                    if kind == "command":
                        update = make_command_update(uid, chat, chat, value.lstrip("/"), language_code="en")
                    elif kind == "text":
                        update = make_text_update(uid, chat, chat, value, language_code="en")
                    else:
                        update = make_callback_update(
                            uid, chat, chat, _button(stub, chat, value), 1, language_code="en"
                        )
                    waiting.append((chat, uid, len(stub.sent_messages(chat))))
                    stub.push_update(update)
                    pushed.append(uid)
                for _ in range(kills_at[step]):
                    time.sleep(rng.uniform(0.05, 0.8))
                    bot.kill()
                    bot.ensure_running()
                for chat, uid, before in waiting:
                    _wait_handled(db, stub, bot, chat, uid, before)
        finally:
            bot.ensure_running()
            time.sleep(1.0)
            bot.stop()

        assert bot.kills == KILLS
        plans = db.execute("SELECT loan_id, option_id, count(*) FROM plans GROUP BY loan_id").fetchall()
        assert {loan: option for loan, option, _ in plans} == expected
        assert all(count == 1 for _, _, count in plans)
        logged = {row[0] for row in db.execute("SELECT update_id FROM messages WHERE direction = 'in'")}
        assert set(pushed) <= logged
        undelivered = db.execute(
            "SELECT count(*) FROM messages WHERE direction = 'out' AND in_reply_to IS NOT NULL AND sent_at IS NULL"
        ).fetchone()[0]
        assert undelivered == 0
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # A reply can only be sent twice if a kill fell between sending it and recording that.
        recorded = db.execute(
            "SELECT count(*) FROM messages WHERE direction = 'out' AND in_reply_to IS NOT NULL"
        ).fetchone()[0]
        delivered = sum(len(stub.sent_messages(700_000 + i)) for i in range(CONVERSATIONS))
        assert recorded <= delivered <= recorded + bot.kills


def _button(stub: BotApiStub, chat: int, label: str) -> str:
    for row in reversed(stub.sent_messages(chat)):
        for line in _rows(row.get("reply_markup")):
            for button in line:
                if button.get("text") == label:
                    return button["callback_data"]
    raise AssertionError(f"no button {label!r} for chat {chat}")


def _rows(markup) -> list:
    import json

    if isinstance(markup, str):
        markup = json.loads(markup)
    return (markup or {}).get("inline_keyboard", [])


def _wait_handled(db: sqlite3.Connection, stub: BotApiStub, bot: BotProcess, chat: int, uid: int, before: int) -> None:
    """Until the update is logged and all its replies are delivered (restarting if killed)."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while time.monotonic() < deadline:
        bot.ensure_running()
        replies, unsent = db.execute(
            "SELECT count(*), count(*) - count(sent_at) FROM messages WHERE in_reply_to = ? AND direction = 'out'",
            (uid,),
        ).fetchone()
        if replies and not unsent and len(stub.sent_messages(chat)) > before:
            return
        time.sleep(0.02)
    raise AssertionError(f"update {uid} for chat {chat} not answered within {STEP_TIMEOUT}s")
