"""The webhook endpoint of the real `restructure-bot run --webhook-url`, over real HTTP: only
Telegram (the secret token) may post; a body over 1 MiB is refused before it is read whole,
whether its length is declared or it streams without end; and nothing refused is stored."""

from __future__ import annotations

import socket
import sqlite3
import time

import pytest

from bot_process import (
    WEBHOOK_SECRET,
    BotProcess,
    bot_env,
    free_port,
    post_update,
    webhook_args,
)
from botapi_stub import BotApiStub
from fakebot import TOKEN, make_command_update

HEAD = "POST /telegram/hook HTTP/1.1\r\nHost: bot\r\nContent-Type: application/json\r\n"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(port, database, stub, process) of one bot in webhook mode for the module's tests."""
    tmp = tmp_path_factory.mktemp("webhook")
    port = free_port()
    with BotApiStub(token=TOKEN) as stub:
        bot = BotProcess(
            bot_env(stub.base_url, tmp / "bot.db", BOT_WEBHOOK_SECRET=WEBHOOK_SECRET), tmp, webhook_args(port)
        )
        bot.ensure_running()
        stub.wait_for("setWebhook", timeout=30)
        yield port, tmp / "bot.db", stub, bot
        assert bot.stop() == 0


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1]) if reply.startswith(b"HTTP/1.1 ") else 0


def test_telegram_is_told_the_url_and_the_secret(served):
    _, _, stub, _ = served
    call = next(params for name, params in stub.calls if name == "setWebhook")
    assert call["url"] == "https://bot.example/telegram/hook" and call["secret_token"] == WEBHOOK_SECRET


@pytest.mark.parametrize("secret", ["", "s3cret", WEBHOOK_SECRET[:-1], WEBHOOK_SECRET + "x"])
def test_a_post_without_the_secret_token_is_refused(served, secret):
    port, database, _, _ = served
    assert post_update(port, make_command_update(50, 42, 42, "start"), secret=secret) == 403
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT count(*) FROM inbox WHERE update_id = 50").fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM messages WHERE update_id = 50").fetchone()[0] == 0


def test_a_declared_length_over_1_mib_is_refused_before_the_body_is_sent(served):
    port, *_ = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            f"{HEAD}X-Telegram-Bot-Api-Secret-Token: {WEBHOOK_SECRET}\r\nContent-Length: {2**31}\r\n\r\n{{".encode()
        )
        assert status_of(connection.recv(1024)) == 413  # answered with 2 GiB announced and 1 byte sent


def test_a_streamed_body_is_cut_off_after_1_mib(served):
    port, *_ = served
    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            f"{HEAD}X-Telegram-Bot-Api-Secret-Token: {WEBHOOK_SECRET}\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )
        connection.settimeout(0.05)
        reply = b""
        deadline = time.monotonic() + 20
        while not reply and time.monotonic() < deadline and sent < 64 * 2**20:
            try:
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
                reply = connection.recv(1024)
            except TimeoutError:
                continue
            except OSError:  # the server closed the connection: its answer is in the buffer
                break
        connection.settimeout(5)
        reply = reply or connection.recv(1024)
    assert status_of(reply) == 413
    assert sent < 8 * 2**20  # refused long before the 64 MiB this client would have sent


def test_only_post_is_served(served):
    port, *_ = served
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(
            f"GET /telegram/hook HTTP/1.1\r\nHost: bot\r\nX-Telegram-Bot-Api-Secret-Token: "
            f"{WEBHOOK_SECRET}\r\n\r\n".encode()
        )
        assert status_of(connection.recv(1024)) == 405


def test_an_update_with_the_secret_is_answered(served):
    port, _, stub, bot = served
    assert post_update(port, make_command_update(60, 4242, 4242, "start", language_code="en")) == 200
    stub.wait_for("sendMessage", lambda params: params["chat_id"] == 4242, timeout=20)
    assert bot.alive()
