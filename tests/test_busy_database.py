"""A busy database: another connection holds SQLite's write lock (`BEGIN IMMEDIATE`) past the
store's busy_timeout. The turn is tried again with back-off; an update whose turn did not
commit is never confirmed to Telegram (polling fetches it again, the webhook answers 503 or
keeps it in its inbox) and the borrower is not told to try again: once the lock is released,
the update is handled, once, and answered."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time

import httpx

from borrower_chat import make_bot_app
from bot.store import Store
from bot.tg import intake, polling, webhook
from bot.tg.polling import poll
from bot.tg.webhook import drain_inbox, webhook_app
from bot_process import BotProcess, bot_env
from botapi_stub import BotApiStub
from fakebot import TOKEN, make_command_update

UPDATE, CHAT = 7, 501


def lock(database) -> sqlite3.Connection:
    """Another connection holding the write lock until it rolls back."""
    blocker = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    return blocker


def handled(blocker: sqlite3.Connection, update_id: int) -> tuple[int, int]:
    """(incoming messages logged for the update, replies recorded for it)"""
    return blocker.execute(
        "SELECT count(*) FILTER (WHERE direction = 'in' AND update_id = ?),"
        " count(*) FILTER (WHERE in_reply_to = ?) FROM messages",
        (update_id, update_id),
    ).fetchone()


def waiting(store: Store) -> int:
    """Updates in the webhook's inbox, not handled yet."""
    return store.db.execute("SELECT count(*) FROM inbox").fetchone()[0]


async def until(condition, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        await asyncio.sleep(0.02)


def quick_retries(monkeypatch, store) -> None:
    """The same retries, in milliseconds: each attempt waits 50 ms for the lock."""
    store.db.execute("PRAGMA busy_timeout = 50")
    monkeypatch.setattr(intake, "TURN_RETRY_DELAYS", (0.05, 0.1))
    monkeypatch.setattr(polling, "HELD_PAUSE", 0.1)
    monkeypatch.setattr(webhook, "HELD_PAUSE", 0.1)


async def test_polling_never_confirms_an_update_whose_turn_did_not_commit(fake_api, tmp_path, monkeypatch, caplog):
    database = tmp_path / "bot.db"
    app, store = await make_bot_app(fake_api, database, default_locale="en")
    quick_retries(monkeypatch, store)
    blocker = lock(database)
    fake_api.push_update(make_command_update(UPDATE, CHAT, CHAT, "start", language_code="en"))
    stop = asyncio.Event()
    task = asyncio.create_task(poll(app, stop))
    try:
        # tried, given up, fetched again: more than once while the lock is held
        await until(lambda: len(fake_api.calls_to("getUpdates")) >= 4, "the update fetched again")
        offsets = [call.get("offset") for call in fake_api.calls_to("getUpdates")]
        assert all(offset is None or offset <= UPDATE for offset in offsets)  # never confirmed
        assert fake_api.sent_messages(CHAT) == []  # and nobody told to try again
        assert handled(blocker, UPDATE) == (0, 0)
        assert any("database is busy" in record.getMessage() for record in caplog.records)

        blocker.execute("ROLLBACK")
        await until(lambda: fake_api.sent_messages(CHAT), "the update answered after the lock went")
        await until(
            lambda: any(call.get("offset") == UPDATE + 1 for call in fake_api.calls_to("getUpdates")),
            "the update confirmed",
        )
    finally:
        stop.set()
        await task
    assert handled(blocker, UPDATE) == (1, len(fake_api.sent_messages(CHAT)))
    await app.shutdown()


async def test_the_webhook_keeps_an_update_in_its_inbox_until_its_turn_commits(fake_api, tmp_path, monkeypatch):
    database = tmp_path / "bot.db"
    app, store = await make_bot_app(fake_api, database, default_locale="en")
    quick_retries(monkeypatch, store)
    store.add_to_inbox(json.dumps(make_command_update(UPDATE, CHAT, CHAT, "start", language_code="en")), store.clock())
    blocker = lock(database)
    stop, arrived = asyncio.Event(), asyncio.Event()
    task = asyncio.create_task(drain_inbox(app, arrived, stop))
    try:
        await asyncio.sleep(1.0)  # several attempts, each given up
        assert blocker.execute("SELECT update_id FROM inbox").fetchall() == [(UPDATE,)]
        assert fake_api.sent_messages(CHAT) == [] and handled(blocker, UPDATE) == (0, 0)
        blocker.execute("ROLLBACK")
        await until(lambda: waiting(store) == 0, "the update handled and removed from the inbox")
    finally:
        stop.set()
        await task
    assert fake_api.sent_messages(CHAT) and handled(blocker, UPDATE) == (1, len(fake_api.sent_messages(CHAT)))
    await app.shutdown()


async def test_the_webhook_answers_503_while_it_cannot_store_an_update(tmp_path):
    store = Store(tmp_path / "bot.db")
    store.db.execute("PRAGMA busy_timeout = 50")
    app = webhook_app(store, "secret", "hook", asyncio.Event())
    body = make_command_update(UPDATE, CHAT, CHAT, "start")
    headers = {"X-Telegram-Bot-Api-Secret-Token": "secret"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://bot") as client:
        blocker = lock(tmp_path / "bot.db")
        assert (await client.post("/hook", json=body, headers=headers)).status_code == 503  # sent again later
        blocker.execute("ROLLBACK")
        assert waiting(store) == 0
        assert (await client.post("/hook", json=body, headers=headers)).status_code == 200
    assert waiting(store) == 1


def test_the_real_bot_waits_out_a_lock_held_past_busy_timeout(tmp_path):
    """`restructure-bot run` (busy_timeout 5 s) while another process holds the lock for 6 s: the
    update is not confirmed meanwhile, then answered once, by the same process."""
    database = tmp_path / "bot.db"
    with BotApiStub(token=TOKEN, max_poll_wait=0.2) as stub:
        bot = BotProcess(bot_env(stub.base_url, database), tmp_path)
        bot.ensure_running()
        stub.wait_for("getUpdates", timeout=30)
        blocker = lock(database)
        stub.push_update(make_command_update(UPDATE, CHAT, CHAT, "start", language_code="en"))
        released = time.monotonic() + 6
        while time.monotonic() < released:
            assert not stub.sent_messages(CHAT)
            time.sleep(0.1)
        assert all((params.get("offset") or 0) <= UPDATE for name, params in stub.calls if name == "getUpdates")
        blocker.execute("ROLLBACK")
        stub.wait_for("sendMessage", lambda params: params["chat_id"] == CHAT, timeout=20)
        deadline = time.monotonic() + 20
        while not any(params.get("offset") == UPDATE + 1 for name, params in stub.calls if name == "getUpdates"):
            assert time.monotonic() < deadline, "the update was not confirmed after it was handled"
            time.sleep(0.05)
        assert bot.alive() and bot.starts == 1
        assert bot.stop() == 0
    assert handled(blocker, UPDATE) == (1, len(stub.sent_messages(CHAT)))
