"""Benchmark of lender broadcasts: does `send_broadcast` keep to Telegram's rate, and use it?

    python bench/broadcast.py                # 300 recipients at 30/s, then 5,000 at 1,000/s (--paid)
    python bench/broadcast.py --only 30      # just the first

Each run builds a fresh SQLite file (WAL, as in production) with one borrower per recipient,
records a broadcast to segment `all` with the `new_plans_available` template, and sends it
through a real `telegram.Bot` whose transport is the in-process fake Bot API
(`tests/fakebot.FakeBotAPI`) with 50 ms latency, behind `RateGuard`: a stand-in for Telegram's
flood control that answers 429 (retry_after=1) to any sendMessage that would make more than
the limit arrive within one second (a sliding window, counted as calls arrive).

Printed per run:

- achieved rate: (messages - 1) / (last arrival - first arrival), as a share of the limit;
- end to end: messages / the whole `send_broadcast` call (claims, rendering, the tail latency);
- the most messages that arrived in any 1-second window, the 429s answered, the CPU time per
  message of the whole process (bot, PTB and the fake together), and whether every
  recipient got exactly one message (the fake's sendMessage calls per chat) and the store says
  `sent` for all.

Goal: achieved >= 95% of the limit, zero 429s, each recipient exactly once. The first line
says how much of a core the process could get when it started (other processes share the
machine) and the load average: at 1,000/s the sender needs about half a core.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import os
import platform
import sys
import tempfile
import time
from collections import Counter, deque
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import telegram  # noqa: E402
from telegram.request import BaseRequest  # noqa: E402

from bot.i18n import Translator  # noqa: E402
from bot.lender.broadcasts import Counts, create_broadcast, parse_segment, prepare, send_broadcast, template_content  # noqa: E402
from bot.store import Store  # noqa: E402
from fakebot import TOKEN, FakeBotAPI  # noqa: E402
from lender_data import SHANGHAI, loan  # noqa: E402

LATENCY = 0.05


class RateGuard(BaseRequest):
    """Telegram's flood control in front of the fake: at most `limit` sendMessage calls in any
    1-second window, else 429 with retry_after=1."""

    def __init__(self, inner: FakeBotAPI, limit: int) -> None:
        self.inner, self.limit = inner, limit
        self.window: deque[float] = deque()
        self.arrivals: list[float] = []
        self.refused = 0

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    async def do_request(self, url, method, request_data=None, **kwargs):
        if url.endswith("/sendMessage"):
            now = time.monotonic()
            while self.window and self.window[0] <= now - 1.0:
                self.window.popleft()
            if len(self.window) >= self.limit:
                self.refused += 1
                await asyncio.sleep(LATENCY)
                return 429, (
                    b'{"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1",'
                    b' "parameters": {"retry_after": 1}}'
                )
            self.window.append(now)
            self.arrivals.append(now)
        return await self.inner.do_request(url, method, request_data, **kwargs)


def fill(store: Store, count: int) -> None:
    with store.transaction():
        for n in range(count):
            store.upsert_borrower_and_loan(loan(f"L-{n:06d}", f"+86139{n:08d}", ("en", "zh_CN")[n % 2]))
            store.bind_telegram(n + 1, 10_000 + n, 10_000 + n)


def cpu_share(seconds: float = 1.0) -> float:
    """The share of one core a busy loop gets now (1.0 on an idle machine): sending 1,000
    messages a second needs about 0.5-0.6 of a core, so a busy machine cannot reach it."""
    wall, cpu = time.monotonic(), time.process_time()
    while time.process_time() - cpu < seconds:
        pass
    return seconds / (time.monotonic() - wall)


def busiest_second(arrivals: list[float]) -> int:
    return max((bisect.bisect_left(arrivals, t + 1.0) - i for i, t in enumerate(arrivals)), default=0)


async def run(limit: int, recipients: int, paid: bool) -> dict:
    translator = Translator()
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "bench.db") as store:
        fill(store, recipients)
        prepared = prepare(
            store,
            parse_segment("all"),
            template_content(translator, "new_plans_available"),
            translator=translator,
            tz=SHANGHAI,
            default_locale="zh_CN",
        )
        broadcast_id = create_broadcast(store, prepared, rate=limit, paid=paid, created_by="bench")
        fake = FakeBotAPI(latency=LATENCY)
        guard = RateGuard(fake, limit)
        async with telegram.Bot(TOKEN, request=guard, get_updates_request=guard) as bot:
            began, cpu = time.monotonic(), time.process_time()
            counts = await send_broadcast(store, bot, broadcast_id, translator=translator, tz=SHANGHAI)
            elapsed, cpu = time.monotonic() - began, time.process_time() - cpu
        per_chat = Counter(int(m["chat_id"]) for m in fake.sent_messages())
        arrivals = guard.arrivals
        span = arrivals[-1] - arrivals[0]
        return {
            "limit": limit,
            "recipients": recipients,
            "paid": paid,
            "achieved": (len(arrivals) - 1) / span / limit,
            "end_to_end": recipients / elapsed / limit,
            "seconds": elapsed,
            "cpu_ms": cpu / recipients * 1000,
            "busiest": busiest_second(arrivals),
            "refused": guard.refused,
            "exactly_once": len(per_chat) == recipients
            and set(per_chat.values()) == {1}
            and counts == Counts(sent=recipients),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", type=int, choices=(30, 1000), help="run one of the two cases")
    args = parser.parse_args()
    cases = [(30, 300, False), (1000, 5000, True)]
    print(
        f"python {platform.python_version()}, {platform.machine()}, latency {LATENCY * 1000:.0f} ms,"
        f" CPU available {cpu_share():.2f} of a core, load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"{'limit/s':>8} {'recipients':>10} {'achieved':>9} {'end to end':>10} {'seconds':>8}"
        f" {'busiest 1 s':>11} {'429s':>5} {'CPU ms/msg':>10}  exactly once"
    )
    for limit, recipients, paid in cases:
        if args.only and args.only != limit:
            continue
        r = asyncio.run(run(limit, recipients, paid))
        print(
            f"{r['limit']:>8} {r['recipients']:>10} {r['achieved']:>9.1%} {r['end_to_end']:>10.1%}"
            f" {r['seconds']:>8.2f} {r['busiest']:>11} {r['refused']:>5} {r['cpu_ms']:>10.2f}"
            f"  {'yes' if r['exactly_once'] else 'NO'}"
        )


if __name__ == "__main__":
    main()
