"""SIGKILL during a broadcast (`restructure-bot broadcast`), then `broadcast resume`: every
recipient gets the message, nobody twice beyond the messages in flight at the kills (the
recipients the records leave `sending`, "in doubt"), and the records say who got what."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time

from bot.store import Store
from botapi_stub import BotApiStub
from fakebot import TOKEN

RECIPIENTS = 600
CHAT = 900_000


def seed(path) -> None:
    store = Store(path)
    with store.transaction():
        for i in range(RECIPIENTS):
            store.upsert_borrower_and_loan(
                {
                    "loan_id": f"BC-{i:04d}",
                    "borrower_name": f"B{i}",
                    "phone": f"+86137{i:08d}",
                    "id_last4": "1234",
                    "locale": "en" if i % 2 else "zh_CN",
                    "product": "credit_card",
                    "outstanding_principal": "1000",
                    "overdue_principal": "100",
                    "annual_rate": "0.1",
                    "monthly_payment": "100",
                    "remaining_term_months": 10,
                    "days_past_due": 40,
                    "next_due_date": "2027-01-05",
                }
            )
            store.bind_telegram(store.get_loan(f"BC-{i:04d}")["borrower_id"], CHAT + i, CHAT + i)
    store.close()


def run(args: list[str], env: dict, cwd) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def kill_after(process: subprocess.Popen, stub: BotApiStub, more: int) -> bool:
    target = len(stub.sent_messages()) + more
    deadline = time.monotonic() + 60
    while len(stub.sent_messages()) < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def test_broadcast_survives_sigkill_and_resumes(tmp_path):
    database = tmp_path / "broadcast.db"
    seed(database)
    rng = random.Random(11)
    in_doubt_total = kills = 0
    with BotApiStub(token=TOKEN) as stub:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
        env.update(BOT_TOKEN=TOKEN, BOT_API_URL=stub.base_url, BOT_DATABASE=str(database), NO_PROXY="127.0.0.1")
        first = run(
            ["broadcast", "--segment", "all", "--template", "new_plans_available", "--paid", "--rate", "200"],
            env,
            tmp_path,
        )
        kills += kill_after(first, stub, rng.randint(50, 150))
        db = sqlite3.connect(database)
        broadcast_id = db.execute("SELECT max(id) FROM broadcasts").fetchone()[0]
        for _ in range(2):
            in_doubt_total += db.execute(
                "SELECT count(*) FROM broadcast_recipients WHERE status = 'sending'"
            ).fetchone()[0]
            resumed = run(["broadcast", "resume", str(broadcast_id), "--retry-in-doubt"], env, tmp_path)
            kills += kill_after(resumed, stub, rng.randint(50, 150))
        in_doubt_total += db.execute("SELECT count(*) FROM broadcast_recipients WHERE status = 'sending'").fetchone()[0]
        final = run(["broadcast", "resume", str(broadcast_id), "--retry-in-doubt"], env, tmp_path)
        output = final.communicate(timeout=120)[0]
        assert final.returncode == 0, output
        per_chat: dict[int, int] = {}
        for message in stub.sent_messages():
            per_chat[int(message["chat_id"])] = per_chat.get(int(message["chat_id"]), 0) + 1
    assert kills == 3
    assert set(per_chat) == {CHAT + i for i in range(RECIPIENTS)}  # everyone got it
    duplicates = sum(count - 1 for count in per_chat.values())
    assert duplicates <= in_doubt_total  # only messages in flight at a kill went twice
    states = dict(
        db.execute(
            "SELECT status, count(*) FROM broadcast_recipients WHERE broadcast_id = ? GROUP BY status", (broadcast_id,)
        ).fetchall()
    )
    assert states == {"sent": RECIPIENTS}
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
