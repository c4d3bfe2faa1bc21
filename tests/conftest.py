"""The fixtures every test can ask for: the fake Bot API, a PTB Application wired to it, the
shared ones of `fixtures` (`store`, `chat`, `app_options`), and a guard that fails any test
reaching beyond loopback.

* ``fake_api`` -- a fresh ``FakeBotAPI``; the test fails if the code called a Bot API method
  the fake does not implement.
* ``make_app`` -- ``app = await make_app(configure=None)``: a real, initialized PTB
  ``Application`` talking to ``fake_api``; shut down after the test.
* ``cli_env`` -- for commands run in-process (click's CliRunner): no BOT_* variable or proxy
  from the developer's shell, the test's directory as the working one (no stray ``.env``), and
  BOT_DATABASE set to ``bot.db`` there; the fixture's value is that path.
* ``network_guard`` (autouse) -- connecting to, or resolving, anything but 127.0.0.0/8, ::1
  or ``localhost`` raises ``NetworkBlocked`` and fails the test, even if the code swallowed the
  error.  Mark a test ``@pytest.mark.allow_network`` to opt out.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path

import pytest

from fakebot import FakeBotAPI, build_application
from fixtures import app_options, chat, store

__all__ = ["app_options", "chat", "store"]  # fixtures defined in `fixtures`, offered to every test


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("BOT_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    database = tmp_path / "bot.db"
    monkeypatch.setenv("BOT_DATABASE", str(database))
    return database


class NetworkBlocked(RuntimeError):
    """A test tried to reach a non-loopback address."""


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if not isinstance(host, str):
        return False
    if host.lower() in ("localhost", "localhost.", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0].strip("[]")).is_loopback
    except ValueError:
        return False


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%", 1)[0].strip("[]"))
    except ValueError:
        return False
    return True


class NetworkGuard:
    def __init__(self) -> None:
        #: What was blocked, as readable strings; the fixture fails the test if non-empty.
        self.attempts: list[str] = []

    def check_address(self, family: int, address: object) -> None:
        if family not in (socket.AF_INET, socket.AF_INET6):
            return  # AF_UNIX and friends stay on this machine
        host = address[0] if isinstance(address, tuple) and address else address
        if not _is_loopback(host):
            self.block(f"connect to {address!r}")

    def check_name(self, host: object) -> None:
        if host is None or _is_loopback(host):
            return
        name = host.decode() if isinstance(host, bytes) else str(host)
        if not _is_ip_literal(name):
            self.block(f"DNS lookup of {name!r}")

    def block(self, what: str) -> None:
        self.attempts.append(what)
        raise NetworkBlocked(f"tests must not use the network: {what}")


@pytest.fixture(autouse=True)
def network_guard(request, monkeypatch):
    guard = NetworkGuard()
    if request.node.get_closest_marker("allow_network"):
        yield guard
        return

    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_create_connection = socket.create_connection
    real_getaddrinfo = socket.getaddrinfo

    def connect(sock, address):
        guard.check_address(sock.family, address)
        return real_connect(sock, address)

    def connect_ex(sock, address):
        guard.check_address(sock.family, address)
        return real_connect_ex(sock, address)

    def create_connection(address, *args, **kwargs):
        guard.check_name(address[0])
        guard.check_address(socket.AF_INET, address)
        return real_create_connection(address, *args, **kwargs)

    def getaddrinfo(host, *args, **kwargs):
        guard.check_name(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield guard
    if guard.attempts:
        pytest.fail(f"test tried to reach the network: {guard.attempts}", pytrace=False)


def pytest_configure(config):
    config.addinivalue_line("markers", "allow_network: let this test open non-loopback connections")


@pytest.fixture
def fake_api():
    fake = FakeBotAPI()
    yield fake
    if fake.unknown_calls:
        pytest.fail(
            "the code called Bot API methods FakeBotAPI does not implement: "
            f"{[method for method, _ in fake.unknown_calls]}",
            pytrace=False,
        )


@pytest.fixture
async def make_app(fake_api):
    """``app = await make_app(configure=None)`` -> an initialized Application on ``fake_api``."""
    apps = []

    async def factory(configure=None):
        app = build_application(fake_api, configure=configure)
        await app.initialize()
        apps.append(app)
        return app

    yield factory
    for app in reversed(apps):
        if app.running:
            await app.stop()
        await app.shutdown()
