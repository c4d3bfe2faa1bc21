"""Crash-safety of webhook mode: updates POSTed to the real `restructure-bot run --webhook-url`
the way Telegram posts them (several connections at once; an update is sent again until it gets
a 200, and never after) while the process is SIGKILLed at random moments and restarted.

Every update that got a 200 must be handled exactly once: its turn logged, each of its replies
recorded once and delivered, and the database intact. With PTB's `run_webhook` (200 as soon as
an update was queued in memory) most updates answered just before a kill were lost.
Set WEBHOOK_UPDATES (default 80) and WEBHOOK_KILLS (default 4) for a longer run by hand.
"""

from __future__ import annotations

import os
import random
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from bot_process import (
    WEBHOOK_SECRET,
    BotProcess,
    bot_env,
    free_port,
    post_update,
    webhook_args,
)
from botapi_stub import BotApiStub
from fakebot import TOKEN, make_command_update, make_text_update

UPDATES = int(os.environ.get("WEBHOOK_UPDATES", "80"))
KILLS = int(os.environ.get("WEBHOOK_KILLS", "4"))
CHATS = 16
POSTERS = 8  # Telegram opens up to 40 connections to a webhook at once
DEADLINE = 90  # seconds for the whole exchange


def deliver(port: int, update: dict, stop: float) -> bool:
    """Send again until a 200 (as Telegram does), or give up at `stop`: True if it got its 200."""
    while time.monotonic() < stop:
        if post_update(port, update) == 200:
            return True
        time.sleep(0.05)
    return False


def updates() -> list[dict]:
    """/start in each chat, then texts: each is answered, and nothing depends on the order."""
    result = []
    for uid in range(1, UPDATES + 1):
        chat = 900_000 + uid % CHATS
        result.append(
            make_command_update(uid, chat, chat, "start", language_code="en")
            if uid <= CHATS
            else make_text_update(uid, chat, chat, f"message {uid}", language_code="en")
        )
    return result


def test_no_update_that_got_a_200_is_lost_across_sigkills(tmp_path):
    database = tmp_path / "webhook.db"
    port = free_port()
    with BotApiStub(token=TOKEN, max_poll_wait=0.2) as stub:
        bot = BotProcess(
            bot_env(stub.base_url, database, BOT_WEBHOOK_SECRET=WEBHOOK_SECRET), tmp_path, webhook_args(port)
        )
        bot.ensure_running()
        stub.wait_for("setWebhook", timeout=30)
        rng = random.Random(20261129)
        done = threading.Event()
        waiting_at_kills: set[int] = set()  # updates answered 200 but not yet handled when the process died

        def killer() -> None:
            for _ in range(KILLS):
                if done.wait(rng.uniform(0.4, 1.6)):
                    return
                if bot.kill():
                    waiting_at_kills.update(_waiting(database))
                bot.ensure_running()

        thread = threading.Thread(target=killer, daemon=True)
        thread.start()
        stop = time.monotonic() + DEADLINE
        first = updates()
        try:
            with ThreadPoolExecutor(POSTERS) as pool:
                # the /starts first, so each chat's texts find a conversation
                got = dict(
                    zip(
                        [u["update_id"] for u in first[:CHATS]],
                        pool.map(lambda u: deliver(port, u, stop), first[:CHATS]),
                        strict=True,
                    )
                )
                got.update(
                    zip(
                        [u["update_id"] for u in first[CHATS:]],
                        pool.map(lambda u: deliver(port, u, stop), first[CHATS:]),
                        strict=True,
                    )
                )
            thread.join(timeout=DEADLINE)
        finally:
            done.set()
        bot.ensure_running()
        answered = [uid for uid, ok in got.items() if ok]
        db = sqlite3.connect(database, timeout=30)
        _wait_until_handled(db, stub, answered, stop)
        while post_update(port, {}, secret="wrong") != 403 and time.monotonic() < stop + 30:
            time.sleep(0.05)  # until the last start serves: SIGTERM then tests its clean shutdown
        assert bot.stop() == 0

        assert bot.kills == KILLS
        assert len(answered) == UPDATES  # every update got its 200 in the end, as from Telegram
        logged = {row[0] for row in db.execute("SELECT update_id FROM messages WHERE direction = 'in'")}
        lost = sorted(set(answered) - logged)
        assert lost == []
        replies = dict(
            db.execute(
                "SELECT in_reply_to, count(*) FROM messages WHERE direction = 'out' GROUP BY in_reply_to"
            ).fetchall()
        )
        assert sorted(uid for uid in answered if replies.get(uid) != 1) == []  # each handled once: one reply
        unsent = "SELECT count(*) FROM messages WHERE direction = 'out' AND sent_at IS NULL"
        assert db.execute(unsent).fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM inbox").fetchone()[0] == 0
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # A reply goes out twice only if a kill fell between sending it and recording that.
        delivered = len(stub.sent_messages())
        assert UPDATES <= delivered <= UPDATES + bot.kills
        print(
            f"\nwebhook: {UPDATES} updates answered 200, {bot.kills} SIGKILLs, {len(waiting_at_kills)} of them"
            f" waiting in the inbox at a kill, lost {len(lost)}, replies delivered twice {delivered - UPDATES}"
        )


def _waiting(database) -> list[int]:
    with sqlite3.connect(database, timeout=30) as db:
        return [row[0] for row in db.execute("SELECT update_id FROM inbox")]


def _wait_until_handled(db: sqlite3.Connection, stub: BotApiStub, answered: list[int], stop: float) -> None:
    marks = ",".join("?" * len(answered))
    while time.monotonic() < stop + 30:
        handled = db.execute(
            f"SELECT count(*) FROM messages WHERE direction = 'in' AND update_id IN ({marks})", answered
        ).fetchone()[0]
        unsent = db.execute("SELECT count(*) FROM messages WHERE direction = 'out' AND sent_at IS NULL").fetchone()[0]
        if handled == len(answered) and not unsent and not db.execute("SELECT count(*) FROM inbox").fetchone()[0]:
            return
        time.sleep(0.05)
