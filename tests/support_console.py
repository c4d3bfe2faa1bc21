"""The support console for tests: a seeded console behind Starlette's TestClient
(`console_env`, its clock starting at CONSOLE_START), signing in (`login`), the CSRF token of a
page (`csrf_of`), and the console served by real uvicorn in a thread (`served`)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import uvicorn
from starlette.testclient import TestClient

from bot.config import Settings
from bot.i18n import Translator
from bot.support.web import create_app
from fixtures import Clock
from support_seed import PASSWORD, seed

CONSOLE_START = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def console_env(tmp_path) -> Iterator[tuple]:
    """(app, client, store, clock) over the seeded database; for a fixture to yield from."""
    store, _ = seed(tmp_path / "bot.db")
    clock = Clock(CONSOLE_START)
    settings = Settings(
        _env_file=None, database=str(tmp_path / "bot.db"), default_locale="en", timezone="Asia/Shanghai"
    )
    app = create_app(store, settings, Translator(), clock=clock)
    with TestClient(app, follow_redirects=False) as client:
        yield app, client, store, clock
    store.close()


def login(client, name="alice", password=PASSWORD, next_page="/"):
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"csrf": csrf, "name": name, "password": password, "next": next_page})


def csrf_of(client, path="/"):
    return re.search(r'name="csrf" value="([^"]+)"', client.get(path).text).group(1)


@contextmanager
def served(app) -> Iterator[str]:
    """Serve `app` with uvicorn on an ephemeral loopback port; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()
