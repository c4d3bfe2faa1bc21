"""SIGKILL during reminder dispatch (`restructure-bot reminders send`), then resume: every
borrower gets their reminder, none twice beyond the messages in flight at each kill, and the
outbox records say exactly who got what."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.store import Store
from botapi_stub import BotApiStub
from fakebot import TOKEN

BORROWERS = 400


def _last_ten_oclock() -> datetime:
    """10:00 in Shanghai (the reminders' send time), at least 2.5 hours ago: every run's
    --as-of (up to 2 hours later) is in the past, as `reminders send` requires."""
    moment = datetime.now(UTC).replace(hour=2, minute=0, second=0, microsecond=0)
    return moment if datetime.now(UTC) - moment >= timedelta(hours=2.5) else moment - timedelta(days=1)


AS_OF = _last_ten_oclock()
DUE = AS_OF.astimezone(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=3)
CHAT = 800_000


def seed(path) -> None:
    store = Store(path, clock=lambda: AS_OF - timedelta(days=30))
    with store.transaction():
        for i in range(BORROWERS):
            store.upsert_borrower_and_loan(
                {
                    "loan_id": f"RD-{i:04d}",
                    "borrower_name": f"B{i}",
                    "phone": f"+86139{i:08d}",
                    "id_last4": "1234",
                    "product": "credit_card",
                    "outstanding_principal": "1000",
                    "overdue_principal": "100",
                    "annual_rate": "0.1",
                    "monthly_payment": "100",
                    "remaining_term_months": 10,
                    "days_past_due": 40,
                    "next_due_date": DUE.isoformat(),
                }
            )
            borrower = store.get_loan(f"RD-{i:04d}")["borrower_id"]
            store.bind_telegram(borrower, CHAT + i, CHAT + i)
            plan = store.save_plan(
                loan_id=f"RD-{i:04d}",
                borrower_id=borrower,
                consent_text="terms",
                consent_user_id=CHAT + i,
                consent_update_id=i,
                accepted_at=AS_OF - timedelta(days=30),
                option={
                    "option_id": "level-1",
                    "structure": "level",
                    "currency": "CNY",
                    "total_repayable": "1100",
                    "apr": "0.1",
                },
                installments=[
                    {
                        "number": 1,
                        "due_date": DUE,
                        "payment": "1100",
                        "principal": "1000",
                        "interest": "0",
                        "fees": "100",
                    }
                ],
            )
            store.add_reminder(plan_id=plan, number=1, borrower_id=borrower, kind="before:3", send_at=AS_OF)
    store.close()


def test_reminder_dispatch_survives_sigkill(tmp_path):
    database = tmp_path / "dispatch.db"
    seed(database)
    rng = random.Random(7)
    kills = 0
    with BotApiStub(token=TOKEN) as stub:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
        env.update(BOT_TOKEN=TOKEN, BOT_API_URL=stub.base_url, BOT_DATABASE=str(database), NO_PROXY="127.0.0.1")
        moment = AS_OF.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None)  # --as-of is in BOT_TIMEZONE
        for attempt in range(12):
            # Later runs look 11 minutes further on, when a dead run's `sending` rows are released.
            as_of = (moment + timedelta(minutes=11 * attempt)).strftime("%Y-%m-%d %H:%M:%S")
            env["BOT_TIMEZONE"] = "Asia/Shanghai"
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", "reminders", "send", "--as-of", as_of],
                cwd=tmp_path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            if attempt < 3:
                deadline = time.monotonic() + 30
                target = len(stub.sent_messages()) + rng.randint(20, 120)
                while len(stub.sent_messages()) < target and process.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.005)
                if process.poll() is None:
                    process.send_signal(signal.SIGKILL)
                    kills += 1
            output = process.communicate(timeout=120)[0]
            store = Store(database)
            pending = store.db.execute("SELECT count(*) FROM reminders WHERE status != 'sent'").fetchone()[0]
            store.close()
            if attempt >= 3 and pending == 0:
                break
        assert kills == 3, output
        per_chat = {}
        for message in stub.sent_messages():
            per_chat[message["chat_id"]] = per_chat.get(message["chat_id"], 0) + 1
    assert set(per_chat) == {CHAT + i for i in range(BORROWERS)}  # everybody got it
    duplicates = sum(count - 1 for count in per_chat.values())
    assert duplicates <= kills  # one reminder at most was in flight at each kill
    store = Store(database)
    states = dict(store.db.execute("SELECT status, count(*) FROM reminders GROUP BY status").fetchall())
    assert states == {"sent": BORROWERS}
    assert store.db.execute("SELECT count(*) FROM reminders WHERE sent_at IS NULL").fetchone()[0] == 0
