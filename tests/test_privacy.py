"""Privacy: `forget` erases a borrower's personal data and message texts but keeps the
financial record (plan terms, consent hash, instalments); `backup` makes a consistent copy
while another connection keeps writing."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from click.testing import CliRunner

from borrower_chat import BorrowerChat, make_bot_app
from bot.cli import main
from bot.store import Store
from plan_helpers import agree_a_plan


@pytest.fixture
async def agreed(fake_api, tmp_path):
    db = tmp_path / "bot.db"
    app, store = await make_bot_app(fake_api, db)
    chat = BorrowerChat(app, fake_api)
    plan_id = await agree_a_plan(chat)
    await app.shutdown()
    store.close()
    return db, plan_id


def test_forget_erases_personal_data_and_keeps_the_record(agreed, monkeypatch):
    db, plan_id = agreed
    monkeypatch.setenv("BOT_DATABASE", str(db))
    before = Store(db)
    sha = before.plan(plan_id)["consent_sha256"]
    installments = before.plan_installments(plan_id)
    before.close()

    result = CliRunner().invoke(main, ["forget", "1", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Erased: name, phone" in result.output and "consent SHA-256" in result.output

    store = Store(db)
    borrower = store.get_borrower(1)
    assert borrower["name"] == "[erased]" and "138" not in borrower["phone"] and borrower["telegram_user_id"] is None
    texts = {row[0] for row in store.db.execute("SELECT DISTINCT text FROM messages WHERE chat_id = 501")}
    assert texts == {"[erased]"}
    assert store.load_conversation(501) is None
    plan = store.plan(plan_id)
    assert plan["consent_sha256"] == sha and plan["consent_text"] == "[erased]" and plan["status"] == "active"
    assert store.plan_installments(plan_id) == installments
    assert store.get_loan("CC-1001")["outstanding_principal"] > 0
    assert [row["event"] for row in store.db.query("SELECT event FROM audit ORDER BY id DESC LIMIT 1")] == [
        "borrower_forgotten"]


def test_forget_refuses_an_unknown_borrower(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT_DATABASE", str(tmp_path / "empty.db"))
    result = CliRunner().invoke(main, ["forget", "42", "--yes"])
    assert result.exit_code == 1 and "no borrower 42" in result.output


def test_backup_is_consistent_while_another_connection_writes(agreed, tmp_path, monkeypatch):
    db, _ = agreed
    monkeypatch.setenv("BOT_DATABASE", str(db))
    stop = threading.Event()

    def writer():
        connection = sqlite3.connect(db, timeout=30)
        n = 0
        while not stop.is_set():
            with connection:
                connection.execute("INSERT INTO audit (at, event, details) VALUES ('2026-11-28T00:00:00', ?, '{}')",
                                   (f"load-{n}",))
            n += 1
            time.sleep(0.001)  # a busy bot, not a tight loop
        connection.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = CliRunner().invoke(main, ["backup", str(tmp_path / "copy.db")])
    finally:
        stop.set()
        thread.join()
    assert result.exit_code == 0, result.output
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT count(*) FROM plans").fetchone()[0] == 1
    loads = sorted(int(row[0].split("-")[1]) for row in copy.execute("SELECT event FROM audit WHERE event LIKE 'load-%'"))
    assert loads == list(range(len(loads)))  # a snapshot: every write up to some moment, none after
    again = CliRunner().invoke(main, ["backup", str(tmp_path / "copy.db")])
    assert again.exit_code == 1 and "already exists" in again.output
