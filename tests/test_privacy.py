"""Privacy: `forget` erases a borrower's personal data and message texts, unlinks every row it
keeps from their Telegram account, and leaves nothing readable in the database file or its
write-ahead log; it keeps the financial record (plan terms, consent hash, instalments).
The database and its backups are readable by their owner only. `backup` makes a consistent
copy while another connection keeps writing."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from borrower_chat import BorrowerChat, make_bot_app
from bot.cli import main
from bot.store import Store
from bot.store.privacy import ERASED_ID_BASE
from plan_helpers import agree_a_plan

#: A Telegram id stored by SQLite in 6 bytes (2**31 <= id < 2**47), so its record bytes can be searched for.
USER = 987_654_321_012
NAME, PHONE = "王小明", "+8613800138000"
TOLD = "Please ring my sister Qian Lihua at the bakery"  # what the borrower typed
REVEAL_REASON = "borrower phoned about Qian Lihua"


@pytest.fixture
async def agreed(fake_api, tmp_path):
    """A borrower (Telegram user USER) who agreed a plan, asked for a person and said TOLD; an
    agent's reply from the console, a support note, a revealed-PII audit entry and a dead letter
    about their chat. The bot's store stays open (as a running bot's would) while the test runs
    `forget`."""
    db = tmp_path / "bot.db"
    app, store = await make_bot_app(fake_api, db)
    chat = BorrowerChat(app, fake_api, chat_id=USER, user_id=USER)
    plan_id = await agree_a_plan(chat)
    agent = store.add_support_user("alice", "x")  # someone to hand the borrower to
    await chat.say("/human")
    await chat.say(TOLD)
    await app.shutdown()
    now = datetime.now(UTC)
    store.add_support_note(USER, agent, f"{TOLD} (agent's note)", now)
    ticket = store.open_ticket_for_chat(USER)
    store.queue_support_action(
        ticket["id"],
        kind="reply",
        text=f"About {TOLD}: we will call you",
        source="console",
        agent="alice",
        agent_id=agent,
        at=now,
    )
    store.audit("pii_revealed", at=now, chat_id=USER, borrower_id=1, agent="alice", reason=REVEAL_REASON)
    store.record_dead_letter(
        json.dumps({"update_id": 9, "message": {"date": "x", "chat": {"id": USER}, "text": TOLD}}),
        "TypeError",
        "polling",
        now,
    )
    yield db, plan_id, store
    store.close()


def _raw_bytes(db: Path) -> bytes:
    return b"".join(path.read_bytes() for path in (db, Path(f"{db}-wal")) if path.exists())


def _secrets() -> dict[str, bytes]:
    return {
        "name": NAME.encode(),
        "phone": PHONE.encode(),
        "what they typed": TOLD.encode(),
        "reveal reason": REVEAL_REASON.encode(),
        "user id as text": str(USER).encode(),
        "user id as a SQLite integer": USER.to_bytes(6, "big"),
    }


def _cells_holding(store: Store, value: int) -> list[str]:
    """Every table.column with a cell equal to `value` or whose text contains it."""
    found = []
    tables = [row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        for column in [row[1] for row in store.db.execute(f"PRAGMA table_info({table})")]:
            hits = store.db.execute(
                f"SELECT count(*) FROM {table} WHERE {column} = ? OR instr({column}, ?) > 0", (value, str(value))
            ).fetchone()[0]
            if hits:
                found.append(f"{table}.{column}")
    return found


def test_forget_leaves_nothing_that_leads_to_the_borrower(agreed, cli_env, monkeypatch):
    db, plan_id, store = agreed
    monkeypatch.setenv("BOT_DATABASE", str(db))
    before = {
        "plan": store.plan(plan_id),
        "installments": store.plan_installments(plan_id),
        "loan": store.get_loan("CC-1001"),
        "messages": store.db.execute("SELECT count(*) FROM messages").fetchone()[0],
    }
    assert _cells_holding(store, USER)  # the id was everywhere before
    assert all(secret in _raw_bytes(db) for secret in _secrets().values())

    result = CliRunner().invoke(main, ["forget", "1", "--yes"])
    assert result.exit_code == 0, result.output
    assert "Erased: name, phone" in result.output and "consent SHA-256" in result.output

    assert _cells_holding(store, USER) == []
    leaked = [what for what, secret in _secrets().items() if secret in _raw_bytes(db)]
    assert leaked == []
    borrower = store.get_borrower(1)
    assert borrower["name"] == "[erased]" and borrower["telegram_user_id"] is None and borrower["locale"] is None
    plan = store.plan(plan_id)
    assert plan["consent_text"] == "[erased]" and plan["consent_user_id"] is None
    kept = ("consent_sha256", "terms", "accepted_at", "total_repayable", "monthly_min", "apr", "status")
    assert {key: plan[key] for key in kept} == {key: before["plan"][key] for key in kept}
    assert store.plan_installments(plan_id) == before["installments"]
    assert store.get_loan("CC-1001") == before["loan"]
    # the conversation's skeleton stays (times, steps, directions), its texts and its link to the account go
    rows = store.db.execute("SELECT DISTINCT text, chat_id FROM messages").fetchall()
    assert rows == [("[erased]", ERASED_ID_BASE - 1)]
    assert store.db.execute("SELECT count(*) FROM messages").fetchone()[0] == before["messages"]
    assert store.load_conversation(USER) is None and store.dead_letters() == []


def test_a_second_forget_says_nothing_more_was_erased(agreed, cli_env, monkeypatch):
    db, _, store = agreed
    monkeypatch.setenv("BOT_DATABASE", str(db))
    first = CliRunner().invoke(main, ["forget", "1", "--yes"])
    assert "Erased:" in first.output
    dump = list(store.db.conn.iterdump())

    again = CliRunner().invoke(main, ["forget", "1", "--yes"])
    assert again.exit_code == 0, again.output
    assert again.output.strip() == "Nothing more to erase: borrower 1 was already forgotten."
    assert list(store.db.conn.iterdump()) == dump


def test_forget_leaves_other_borrowers_alone(agreed, cli_env, monkeypatch):
    db, _, store = agreed
    monkeypatch.setenv("BOT_DATABASE", str(db))
    store.audit("identified", at=datetime.now(UTC), chat_id=4242, borrower_id=2)
    other = store.db.execute("SELECT * FROM borrowers WHERE id != 1 ORDER BY id").fetchall()
    CliRunner().invoke(main, ["forget", "1", "--yes"])
    assert store.db.execute("SELECT * FROM borrowers WHERE id != 1 ORDER BY id").fetchall() == other
    assert store.db.execute("SELECT count(*) FROM audit WHERE chat_id = 4242").fetchone()[0] == 1


def test_forget_refuses_an_unknown_borrower(cli_env):
    result = CliRunner().invoke(main, ["forget", "42", "--yes"])
    assert result.exit_code == 1 and "no borrower 42" in result.output


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_database_and_backups_are_readable_by_their_owner_only(tmp_path, cli_env, monkeypatch):
    previous = os.umask(0o022)  # the usual umask, which would give 0644
    try:
        db = tmp_path / "private.db"
        store = Store(db)
        store.audit("opened", at=datetime.now(UTC))
        files = [db, Path(f"{db}-wal"), Path(f"{db}-shm")]
        assert all(path.exists() for path in files)
        assert {path.name: _mode(path) for path in files} == {path.name: 0o600 for path in files}
        monkeypatch.setenv("BOT_DATABASE", str(db))
        result = CliRunner().invoke(main, ["backup", str(tmp_path / "copy.db")])
        assert result.exit_code == 0, result.output
        assert _mode(tmp_path / "copy.db") == 0o600
        store.close()
    finally:
        os.umask(previous)


def test_backup_is_consistent_while_another_connection_writes(agreed, tmp_path, cli_env, monkeypatch):
    db, _, _ = agreed
    monkeypatch.setenv("BOT_DATABASE", str(db))
    stop = threading.Event()

    def writer():
        connection = sqlite3.connect(db, timeout=30)
        n = 0
        while not stop.is_set():
            with connection:
                connection.execute(
                    "INSERT INTO audit (at, event, details) VALUES ('2026-11-28T00:00:00', ?, '{}')", (f"load-{n}",)
                )
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
    events = copy.execute("SELECT event FROM audit WHERE event LIKE 'load-%'")
    loads = sorted(int(row[0].split("-")[1]) for row in events)
    assert loads == list(range(len(loads)))  # a snapshot: every write up to some moment, none after
    again = CliRunner().invoke(main, ["backup", str(tmp_path / "copy.db")])
    assert again.exit_code == 1 and "already exists" in again.output
