"""What many tests share: the moment they happen at, clocks, and the store behind an Application.
The fixtures here are made visible to every test by conftest.py.

    NOW        2026-11-28 09:30 UTC (17:30 in Shanghai: inside support hours)
    SHANGHAI   the demo's time zone (BOT_TIMEZONE's default)
    clock      a clock that always says NOW, for code that takes one
    Clock      a clock a test moves (`advance`), or one that moves on each reading (`step`)
    store_of   the store behind an Application, or behind a `BorrowerChat`'s Application

Fixtures:

    store         an empty in-memory store whose clock says NOW (a module overrides it to fill it)
    app_options   how `chat`'s Application is made (`make_bot_app`'s options; a module overrides it)
    chat          a borrower (chat 501) talking to a real Application over the fake Bot API, with
                  the demo loans in a SQLite file; shut down after the test
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.store import Store

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def clock() -> datetime:
    return NOW


class Clock:
    """A clock for code that asks the time: it says `start` until a test moves it (`advance`),
    or moves `step` further each time it is read."""

    def __init__(self, start: datetime = NOW, *, step: timedelta = timedelta(0)) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> datetime:
        self.now += self.step
        return self.now

    def advance(self, delta: timedelta | None = None, **parts: float) -> None:
        """Move on by `delta`, or by timedelta(**parts) (`advance(hours=2)`)."""
        self.now += delta if delta is not None else timedelta(**parts)


def store_of(holder: Any) -> Store:
    """The store of an Application (or of a `BorrowerChat`, through its `app`)."""
    app = getattr(holder, "app", holder)
    return app.bot_data["conversations"].store


@pytest.fixture
def store() -> Iterator[Store]:
    with Store(":memory:", clock=clock) as opened:
        yield opened


@pytest.fixture
def app_options() -> dict[str, Any]:
    return {}


@pytest.fixture
async def chat(fake_api, tmp_path, app_options) -> AsyncIterator[Any]:
    from borrower_chat import BorrowerChat, make_bot_app

    app, _ = await make_bot_app(fake_api, tmp_path / "bot.db", **app_options)
    yield BorrowerChat(app, fake_api)
    await app.shutdown()
