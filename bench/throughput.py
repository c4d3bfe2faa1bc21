"""Throughput of the whole bot: many borrowers holding whole conversations at once, through the
real python-telegram-bot Application, the in-process fake Bot API and a real SQLite file,
compared in the same run with a bare PTB echo bot fed the same updates.

    python bench/throughput.py                      # 2,000 borrowers (40,000 updates), ~3 min
    python bench/throughput.py --borrowers 200      # quicker
    python bench/throughput.py --breakdown          # + where our time goes, component by component
    python bench/throughput.py --profile prof.out   # + cProfile of our phase (or --profiler pyinstrument)

Goal (issue 6): our updates/second >= 0.5 x the echo bot's.

What runs
---------
* A fresh SQLite file in a temporary directory (`--db-dir` to choose where; the default is
  the system's temp dir), opened with `bot.store.Store` exactly as `restructure-bot run` does
  (WAL, the store's own pragmas), filled with N generated borrowers and loans
  (`Store.upsert_borrower_and_loan`; seeded: amounts, products, languages vary).
* Our bot: `bot.tg.app.build_application(Conversations(...), request=fake,
  rate_limit=False)`, initialized, all its handlers (borrower, support, admin) installed.
* Each borrower is one asyncio task holding a whole conversation of 20 updates: /start,
  consent, loan number, last 4 of the ID, loan overview, reason, outlook, recovery months,
  income after recovery, income, income kind, spending mode, spending, other debts, savings,
  dependants, review, budget, choose one of the offered plans, agree. Buttons are pressed
  with the callback data the bot actually sent to that chat (menu numbers included), so a
  stale or wrong button would show up as a failed conversation. Mix per borrower: 1
  command, 9 texts, 10 button presses.
* Every task sends its next update only after the previous one was processed (a closed
  loop, like a person waiting for the answer), and yields to the event loop between two
  updates, so all N conversations are in progress at the same time and their turns
  interleave in the database.
* The echo bot: a bare `Application` with one `MessageHandler` (replies `send_message` with
  the text) and one `CallbackQueryHandler` (replies `send_message` with the data), through
  a fresh instance of the same fake, fed exactly the updates our run produced (recorded),
  with the same task structure.

How updates are fed, and why
----------------------------
Each task calls `application.process_update(Update.de_json(data, bot))` itself, the same
call PTB's own update fetcher makes for each update it takes from `update_queue` (with
`concurrent_updates` it wraps that same call in a task). Going through `update_queue`
instead would add one `asyncio.Queue` put/get per update to both bots alike, and it gives no
signal that *this* update has been handled, which a closed-loop borrower needs before
reading the answer and pressing the next button. Concurrency is the same either way: all
our work in a turn (SQLite, the dialogue, the plan engine, Jinja) is synchronous and runs in
the event loop thread, so updates interleave at the awaits of the Bot API calls;
`concurrent_updates` would not run two turns in parallel. Timing includes `Update.de_json`
(what the updater would pay) for both bots.

Phases and figures
------------------
1. ours: the real bot, as above; the updates it was sent and the Bot API calls it made for
   each are recorded.
2. echo: the bare echo bot (the issue's baseline), fed the recorded updates.
3. replay: PTB alone with our traffic: for each recorded update, exactly the Bot API calls
   our bot made for it (same texts, keyboards built as PTB objects, callback answers) and
   nothing else. ours vs replay is the cost of our own work (storage,
   dialogue, engine, rendering); replay vs echo is what our heavier Bot API traffic costs
   PTB and the fake.

For each phase: updates/second (all updates / wall time of the phase); p50 / p99 time per
update (wall time of `de_json + process_update`: without fake latency the event loop does
not switch inside it, so this is the update's service time); CPU time per update
(`time.process_time`, steadier than wall time on a machine shared with other work); Bot API
calls per update. The ratios are printed by updates/second (the goal) and by CPU time.
The fake validates every text it is sent (Telegram HTML check, length) as Telegram would;
that cost is in every phase, more in ours and replay since our texts are long HTML.

The run is bounded: `--time-limit` seconds per phase (default 900); a phase that hits it
stops its borrowers and reports what was done. Everything is seeded (`--seed`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import itertools
import logging
import os
import platform
import pstats
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))  # tests/fakebot.py, the in-process fake Bot API

from telegram import (  # noqa: E402
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    LinkPreviewOptions,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.ext import ApplicationBuilder, CallbackQueryHandler, MessageHandler, filters  # noqa: E402

from bot.demo import DEMO_LOANS  # noqa: E402
from bot.i18n import Translator  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.tg.app import build_application  # noqa: E402
from bot.turn import Conversations  # noqa: E402
from fakebot import TOKEN, FakeBotAPI, make_callback_update, make_command_update, make_text_update  # noqa: E402
from plans.policy import default_policy  # noqa: E402

SEED = 20261128
NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)  # the demo loans' "today"
BASE_URL, BASE_FILE_URL = "http://fake/bot", "http://fake/file/bot"
CHAT_BASE = 10_000_000  # borrower n talks from chat (and user) id CHAT_BASE + n
WARMUP = 5  # conversations run (and not counted) before each timed phase
UPDATE_IDS = itertools.count(1)  # unique across phases: the bot drops a repeated update_id
REASONS = ["job_loss", "income_drop", "illness", "family_emergency", "business_trouble"]
KINDS = ["salary", "salary", "self_employed", "pension"]
SCRIPT_KINDS = [
    "command",
    "press",
    "text",
    "text",
    "press",
    "press",
    "press",
    "text",
    "text",
    "text",
    "press",
    "press",
    "text",
    "text",
    "text",
    "text",
    "press",
    "press",
    "press",
    "press",
]


def clock() -> datetime:
    return NOW


# ---------------------------------------------------------------------- the fake, bounded


class BenchFake(FakeBotAPI):
    """`tests/fakebot.FakeBotAPI` with memory bounded over tens of thousands of calls: the
    call records are counted then dropped, only the latest message per chat is kept, and the
    latest inline keyboard per chat is indexed (the fake's own `last_buttons` scans every
    message ever sent, O(calls) per look-up)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.failures: list[tuple[str, Any]] = []
        self.keyboards: dict[str, list[str]] = {}
        self._latest: dict[str, tuple[str, int]] = {}
        self.recording: list[tuple[str, dict]] | None = None  # calls made for the current update

    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, body = super().handle(method, params)
        self.count += 1
        if self.recording is not None:
            self.recording.append((method, params))
        if status != 200:
            self.failures.append((method, body.get("description")))
        elif method == "sendMessage":
            markup = params.get("reply_markup")
            chat = str(params["chat_id"])
            if isinstance(markup, dict) and "inline_keyboard" in markup:
                self.keyboards[chat] = [b.get("callback_data", "") for row in markup["inline_keyboard"] for b in row]
            else:
                self.keyboards.pop(chat, None)
        self.calls.clear()
        self._delivered.clear()
        self.failed_calls.clear()
        return status, body

    def _new_message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        message = super()._new_message(params, **content)
        key = (str(params["chat_id"]), message["message_id"])
        previous = self._latest.get(key[0])
        if previous is not None:
            self._messages.pop(previous, None)
        self._latest[key[0]] = key
        return message


# ---------------------------------------------------------------------- borrowers


def _money(value: float) -> str:
    return str(Decimal(repr(round(value, 2))).quantize(Decimal("0.01")))


@dataclass
class Borrower:
    n: int
    loan_id: str
    id_last4: str
    language: str
    script: list[tuple[str, str]]  # ("command"|"text"|"press", value)
    rng: random.Random
    sent: list[dict] = field(default_factory=list)  # the updates, recorded for the baselines
    replies: dict[int, list[tuple[str, dict]]] = field(default_factory=dict)  # update_id -> Bot API calls
    done: bool = False
    problem: str | None = None

    @property
    def chat_id(self) -> int:
        return CHAT_BASE + self.n


def make_borrower(n: int, seed: int) -> tuple[Borrower, dict]:
    """A borrower, their loan (a demo loan scaled), and the answers they will give."""
    rng = random.Random(seed * 1_000_003 + n)
    template = dict(DEMO_LOANS[n % len(DEMO_LOANS)])
    scale = rng.uniform(0.6, 1.6)
    for key in ("outstanding_principal", "overdue_principal", "overdue_interest", "penalty_fees", "monthly_payment"):
        template[key] = _money(float(template[key]) * scale)
    locale = rng.choice(["zh_CN", "en"])
    loan_id = f"BENCH-{n:07d}"
    id_last4 = f"{rng.randrange(10_000):04d}"
    row = {
        **template,
        "loan_id": loan_id,
        "borrower_name": f"Borrower {n}",
        "phone": f"+86139{n:08d}",
        "id_last4": id_last4,
        "locale": locale,
        "days_past_due": rng.randrange(31, 120),
    }
    payment = float(template["monthly_payment"])
    income = round(payment * rng.uniform(2.6, 4.0), -2)
    script = [
        ("command", "start"),
        ("press", "consent:yes"),
        ("text", loan_id),
        ("text", id_last4),
        ("press", "loan:continue"),
        ("press", f"reason:{rng.choice(REASONS)}"),
        ("press", f"outlook:{rng.choice(['temporary', 'temporary', 'unsure'])}"),
        ("text", str(rng.randrange(2, 9))),
        ("text", f"{round(income * rng.uniform(1.1, 1.5), -2):.0f}"),
        ("text", f"{income:.0f}"),
        ("press", f"kind:{rng.choice(KINDS)}"),
        ("press", "expmode:total"),
        ("text", f"{round(income * rng.uniform(0.45, 0.58), -2):.0f}"),
        ("text", f"{round(income * rng.uniform(0.0, 0.08), -2):.0f}"),
        ("text", f"{round(income * rng.uniform(0.0, 0.6), -2):.0f}"),
        ("text", str(rng.randrange(0, 4))),
        ("press", "review:ok"),
        ("press", "budget:ok"),
        ("press", "choose:"),  # one of the plans offered, at random
        ("press", "agree:"),
    ]
    assert [kind for kind, _ in script] == SCRIPT_KINDS
    language = "en" if locale == "en" else "zh-hans"
    return Borrower(n, loan_id, id_last4, language, script, rng), row


def next_update(borrower: Borrower, step: tuple[str, str], keyboard: list[str], update_id: int) -> dict | None:
    kind, value = step
    chat = borrower.chat_id
    if kind == "command":
        return make_command_update(update_id, chat, chat, value, language_code=borrower.language)
    if kind == "text":
        return make_text_update(update_id, chat, chat, value, language_code=borrower.language)
    actions = [(data, data.partition(":")[2]) for data in keyboard]
    if value.endswith(":"):
        found = [data for data, action in actions if action.startswith(value)]
    else:
        found = [data for data, action in actions if action == value]
    if not found:
        return None
    return make_callback_update(
        update_id, chat, chat, borrower.rng.choice(found), message_id=1, language_code=borrower.language
    )


# ---------------------------------------------------------------------- one phase


@dataclass
class Phase:
    name: str
    updates: int
    seconds: float
    cpu_seconds: float
    times: list[float]
    api_calls: int
    completed: int
    stopped_by_limit: bool
    problems: list[str]

    @property
    def rate(self) -> float:
        return self.updates / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms(self) -> float:
        return self.cpu_seconds / self.updates * 1e3 if self.updates else float("nan")

    def quantile(self, q: float) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")

    def line(self) -> str:
        return (
            f"{self.name:<6} {self.updates:>7,} updates in {self.seconds:7.2f} s = {self.rate:7.1f} updates/s;"
            f" per update p50 {self.quantile(0.5) * 1e3:5.2f} ms, p99 {self.quantile(0.99) * 1e3:6.2f} ms;"
            f" CPU {self.cpu_ms:.3f} ms/update ({self.cpu_seconds / self.seconds:.0%} of wall);"
            f" {self.api_calls / max(self.updates, 1):.2f} Bot API calls/update;"
            f" {self.completed:,} conversations completed"
        )


async def drive(
    app,
    fake: BenchFake,
    borrowers: list[Borrower],
    *,
    replay: bool,
    deadline: float,
    profile: Profiling | Breakdown | None = None,
) -> tuple[int, list[float], bool]:
    """Run every borrower's conversation as its own task; returns (updates, times, hit limit).

    With `replay` the borrowers send the updates recorded in `sent`; otherwise they follow
    their script, pressing the buttons the bot sent, and the updates (and the Bot API calls
    each caused) are recorded."""
    times: list[float] = []
    limited = False

    async def converse(borrower: Borrower) -> None:
        nonlocal limited
        steps = borrower.sent if replay else borrower.script
        for step in steps:
            await asyncio.sleep(0)  # let every other borrower take their turn
            if time.perf_counter() > deadline:
                limited = True
                return
            if replay:
                data = step
            else:
                data = next_update(borrower, step, fake.keyboards.get(str(borrower.chat_id), []), next(UPDATE_IDS))
                if data is None:
                    borrower.problem = f"no {step[1]!r} button after {len(borrower.sent)} updates"
                    return
                borrower.sent.append(data)
                fake.recording = borrower.replies[data["update_id"]] = []
            began = time.perf_counter()
            await app.process_update(Update.de_json(data, app.bot))
            times.append(time.perf_counter() - began)
            fake.recording = None
        borrower.done = True

    for borrower in borrowers:
        borrower.done = False
    if profile is not None:
        profile.start()
    await asyncio.gather(*(converse(b) for b in borrowers))
    if profile is not None:
        profile.stop()
    return len(times), times, limited


async def timed_phase(
    name: str,
    app,
    fake: BenchFake,
    borrowers: list[Borrower],
    warmup: list[Borrower],
    *,
    replay: bool,
    time_limit: float,
    profile: Profiling | Breakdown | None = None,
) -> Phase:
    await drive(app, fake, warmup, replay=replay, deadline=time.perf_counter() + time_limit)
    calls_before, failures_before = fake.count, len(fake.failures)
    gc.collect()
    began, cpu = time.perf_counter(), time.process_time()
    updates, times, limited = await drive(
        app, fake, borrowers, replay=replay, deadline=began + time_limit, profile=profile
    )
    seconds, cpu = time.perf_counter() - began, time.process_time() - cpu
    problems = [f"borrower {b.n}: {b.problem}" for b in borrowers if b.problem and not replay]
    problems += [f"Bot API {method}: {description}" for method, description in fake.failures[failures_before:]]
    return Phase(
        name, updates, seconds, cpu, times, fake.count - calls_before, sum(b.done for b in borrowers), limited, problems
    )


async def run_ours(
    db_path: Path,
    borrowers: list[Borrower],
    rows: list[dict],
    warmup: list[Borrower],
    time_limit: float,
    profile: Profiling | Breakdown | None,
) -> tuple[Phase, int]:
    store = Store(db_path, clock=clock)
    with store.transaction():
        for row in rows:
            store.upsert_borrower_and_loan(row)
    conversations = Conversations(store, default_policy(), Translator(), clock, "zh_CN")
    fake = BenchFake()
    app = build_application(
        conversations, token=TOKEN, base_url=BASE_URL, base_file_url=BASE_FILE_URL, request=fake, rate_limit=False
    )
    await app.initialize()
    try:
        phase = await timed_phase(
            "ours", app, fake, borrowers, warmup, replay=False, time_limit=time_limit, profile=profile
        )
        plans = store.db.execute("SELECT count(*) FROM plans WHERE loan_id LIKE 'BENCH-%'").fetchone()[0]
    finally:
        await app.shutdown()
        store.close()
    return phase, plans - sum(b.done for b in warmup)


# ---------------------------------------------------------------------- the two baselines


async def on_text(update, context) -> None:
    await context.bot.send_message(update.effective_chat.id, update.effective_message.text)


async def on_button(update, context) -> None:
    await context.bot.send_message(update.effective_chat.id, update.callback_query.data)


def build_echo(fake: BenchFake):
    """The bare echo bot of the issue: one MessageHandler, one CallbackQueryHandler."""
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(BASE_URL)
        .base_file_url(BASE_FILE_URL)
        .request(fake)
        .get_updates_request(fake)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, on_text))
    app.add_handler(CallbackQueryHandler(on_button))
    return app


def _markup(markup: Any):
    """A reply markup as our bot builds it (PTB objects, `bot.tg.send.markup_for`)."""
    if not isinstance(markup, dict):
        return None
    if "inline_keyboard" in markup:
        return InlineKeyboardMarkup(
            [
                [InlineKeyboardButton(b["text"], callback_data=b["callback_data"]) for b in row]
                for row in markup["inline_keyboard"]
            ]
        )
    if "keyboard" in markup:
        return ReplyKeyboardMarkup(
            [
                [KeyboardButton(b["text"], request_contact=b.get("request_contact")) for b in row]
                for row in markup["keyboard"]
            ],
            resize_keyboard=markup.get("resize_keyboard"),
            one_time_keyboard=markup.get("one_time_keyboard"),
        )
    return ReplyKeyboardRemove() if markup.get("remove_keyboard") else None


async def on_any(update, context) -> None:
    """Make the Bot API calls our bot made for this update, and nothing else."""
    bot = context.bot
    for method, params in context.bot_data["replies"][update.update_id]:
        if method == "answerCallbackQuery":
            await update.callback_query.answer()
        elif method == "sendMessage":
            preview = params.get("link_preview_options") or {}
            await bot.send_message(
                params["chat_id"],
                params["text"],
                parse_mode=params.get("parse_mode"),
                reply_markup=_markup(params.get("reply_markup")),
                link_preview_options=LinkPreviewOptions(**preview) if preview else None,
            )
        else:
            raise RuntimeError(f"the replay bot does not make {method} calls")


def build_replay(fake: BenchFake, borrowers: list[Borrower]):
    """PTB alone with our traffic: for each update, exactly the Bot API calls our bot made
    (same texts, same keyboards built as PTB objects, callback answers), with
    no storage, dialogue or rendering. Splits our cost into PTB's share and our own work."""
    app = (
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(BASE_URL)
        .base_file_url(BASE_FILE_URL)
        .request(fake)
        .get_updates_request(fake)
        .build()
    )
    app.bot_data["replies"] = {uid: calls for b in borrowers for uid, calls in b.replies.items()}
    app.add_handler(MessageHandler(filters.TEXT | filters.CONTACT, on_any))
    app.add_handler(CallbackQueryHandler(on_any))
    return app


async def run_baseline(name: str, borrowers: list[Borrower], warmup: list[Borrower], time_limit: float) -> Phase:
    fake = BenchFake()
    app = build_echo(fake) if name == "echo" else build_replay(fake, borrowers + warmup)
    await app.initialize()
    try:
        return await timed_phase(name, app, fake, borrowers, warmup, replay=True, time_limit=time_limit)
    finally:
        await app.shutdown()


# ---------------------------------------------------------------------- profiling


class Breakdown:
    """Where our phase spends its time, component by component, with little overhead (unlike
    a profiler): the functions below are wrapped, in this process only, with timers that add
    up wall and CPU time per call (inclusive: a component's time contains its children's).
    Wall minus CPU is waiting: for the disk (fsync at commit) or for a CPU on a busy machine."""

    TREE = [  # (depth, label, module, owner attribute or None, function, async)
        (0, "Update.de_json (inbound update)", "telegram", "Update", "de_json", False),
        (0, "Application.process_update", "telegram.ext", "Application", "process_update", True),
        (1, "Conversations.handle (one turn, one transaction)", "bot.turn", "Conversations", "handle", False),
        (2, "Store.load_conversation", "bot.store", "Store", "load_conversation", False),
        (2, "Store.log_message (inbound, dedupe)", "bot.store", "Store", "log_message", False),
        (2, "Dialogue.handle", "dialogs.machine", "Dialogue", "handle", False),
        (3, "plans.engine.quote", "dialogs.machine", None, "quote", False),
        (
            3,
            "StoreServices.save_plan (plan, instalments, reminders)",
            "bot.services",
            "StoreServices",
            "save_plan",
            False,
        ),
        (2, "Translator.render (all messages and buttons)", "bot.i18n", "Translator", "render", False),
        (2, "Store.save_conversation", "bot.store", "Store", "save_conversation", False),
        (2, "Store.log_reply", "bot.store", "Store", "log_reply", False),
        (2, "Database.commit (end of the turn)", "sqlite_utils.db", "Database", "commit", False),
        (1, "CallbackQuery.answer", "telegram", "CallbackQuery", "answer", True),
        (1, "send_messages", "bot.tg.app", None, "send_messages", True),
        (2, "markup_for (keyboard objects)", "bot.tg.send", None, "markup_for", False),
        (2, "Bot.send_message (PTB + fake)", "telegram", "Bot", "send_message", True),
        (2, "Conversations.mark_sent (own commit)", "bot.turn", "Conversations", "mark_sent", False),
        (0, "the fake Bot API answering (all calls)", "fakebot", "FakeTelegram", "handle", False),
    ]

    def __init__(self) -> None:
        import importlib

        self.active = False
        self.totals: dict[str, list[float]] = {}
        for _, label, module_name, owner_name, name, is_async in self.TREE:
            owner = importlib.import_module(module_name)
            if owner_name is not None:
                owner = getattr(owner, owner_name)
            if not hasattr(owner, name):
                continue  # the code changed: skip what is gone
            self.totals[label] = [0.0, 0.0, 0]
            setattr(owner, name, self._wrap(getattr(owner, name), label, is_async))

    def _wrap(self, function, label: str, is_async: bool):
        totals = self.totals[label]
        breakdown = self
        if is_async:

            async def timed_async(*args, **kwargs):
                if not breakdown.active:
                    return await function(*args, **kwargs)
                wall, cpu = time.perf_counter(), time.process_time()
                try:
                    return await function(*args, **kwargs)
                finally:
                    totals[0] += time.perf_counter() - wall
                    totals[1] += time.process_time() - cpu
                    totals[2] += 1

            return timed_async

        def timed(*args, **kwargs):
            if not breakdown.active:
                return function(*args, **kwargs)
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                totals[0] += time.perf_counter() - wall
                totals[1] += time.process_time() - cpu
                totals[2] += 1

        return timed

    def start(self) -> None:
        self.active = True

    def stop(self) -> None:
        self.active = False

    def report(self, phase: Phase) -> None:
        print(
            f"\nbreakdown of our phase, per update ({phase.updates:,} updates; inclusive; "
            f"whole phase: wall {phase.seconds / phase.updates * 1e3:.3f} ms, CPU {phase.cpu_ms:.3f} ms):"
        )
        print(f"  {'':<62} {'wall ms':>8} {'CPU ms':>8} {'CPU %':>6} {'calls':>8}")
        for depth, label, *_ in self.TREE:
            if label not in self.totals:
                continue
            wall, cpu, calls = self.totals[label]
            print(
                f"  {'  ' * depth + label:<62} {wall / phase.updates * 1e3:8.3f} {cpu / phase.updates * 1e3:8.3f}"
                f" {cpu / phase.cpu_seconds:6.1%} {calls:8,}"
            )


class Profiling:
    """cProfile (a .prof file for pstats/snakeviz) or pyinstrument (an HTML report) of our phase."""

    def __init__(self, path: str, kind: str, cpu: bool) -> None:
        self.path, self.kind = path, kind
        if kind == "pyinstrument":
            from pyinstrument import Profiler  # optional: pip install pyinstrument

            self.profiler = Profiler(interval=0.0005, async_mode="disabled")
        else:
            self.profiler = cProfile.Profile(time.process_time) if cpu else cProfile.Profile()

    def start(self) -> None:
        self.profiler.start() if self.kind == "pyinstrument" else self.profiler.enable()

    def stop(self) -> None:
        self.profiler.stop() if self.kind == "pyinstrument" else self.profiler.disable()

    def report(self, lines: int) -> None:
        if self.kind == "pyinstrument":
            Path(self.path).write_text(self.profiler.output_html())
            print(f"\npyinstrument report of our phase written to {self.path}")
            print(self.profiler.output_text(unicode=False, color=False, show_all=False))
            return
        self.profiler.dump_stats(self.path)
        stats = pstats.Stats(self.path)
        print(f"\ncProfile of our phase written to {self.path}; top functions by own time:")
        stats.sort_stats("tottime").print_stats(lines)
        stats.sort_stats("cumulative").print_stats(lines)


# ---------------------------------------------------------------------- main


def machine() -> str:
    return (
        f"{platform.python_implementation()} {platform.python_version()}, {os.cpu_count()} CPUs"
        f" ({platform.processor() or platform.machine()}), {platform.system()} {platform.release()}"
    )


async def main_async(args: argparse.Namespace) -> dict:
    people = [make_borrower(n, args.seed) for n in range(args.borrowers + WARMUP)]
    warmup = [b for b, _ in people[args.borrowers :]]
    borrowers = [b for b, _ in people[: args.borrowers]]
    rows = [row for _, row in people]
    if args.breakdown:
        profile = Breakdown()
    else:
        profile = Profiling(args.profile, args.profiler, args.profile_cpu) if args.profile else None
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(dir=args.db_dir) as folder:
        ours, plans = await run_ours(Path(folder) / "bench.db", borrowers, rows, warmup, args.time_limit, profile)
    echo = await run_baseline("echo", borrowers, warmup, args.time_limit)
    replay = await run_baseline("replay", borrowers, warmup, args.time_limit)
    ratio = ours.rate / echo.rate if echo.rate else float("nan")
    print(f"machine: {machine()}; load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print(
        f"{args.borrowers:,} borrowers x {len(SCRIPT_KINDS)} updates (1 command, 9 texts, 10 buttons),"
        f" seed {args.seed}, SQLite in {args.db_dir or tempfile.gettempdir()}"
    )
    for phase in (ours, echo, replay):
        print(phase.line())
    print(f"plans recorded: {plans:,} of {args.borrowers:,} conversations")
    print(
        f"ratio ours/echo, updates/s: {ratio:.3f} (goal >= 0.5: {'met' if ratio >= 0.5 else 'MISSED'});"
        f" by CPU time per update: {echo.cpu_ms / ours.cpu_ms:.3f}"
    )
    print(
        f"  replay/echo (PTB's cost of our Bot API traffic alone): {replay.rate / echo.rate:.3f} by updates/s,"
        f" {echo.cpu_ms / replay.cpu_ms:.3f} by CPU"
    )
    print(
        f"  ours/replay (our own work: storage, dialogue, engine, rendering): {ours.rate / replay.rate:.3f}"
        f" by updates/s, {replay.cpu_ms / ours.cpu_ms:.3f} by CPU"
    )
    for phase in (ours, echo, replay):
        if phase.stopped_by_limit:
            print(f"{phase.name}: stopped at the time limit ({args.time_limit:.0f} s)")
        for problem in phase.problems[:10]:
            print(f"{phase.name}: {problem}")
        if len(phase.problems) > 10:
            print(f"{phase.name}: ... {len(phase.problems) - 10} more problems")
    if isinstance(profile, Breakdown):
        profile.report(ours)
    elif profile is not None:
        profile.report(args.profile_lines)
    return {"ours": ours, "echo": echo, "replay": replay, "ratio": ratio, "plans": plans}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--borrowers", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--time-limit", type=float, default=900.0, help="seconds per phase (default 900)")
    parser.add_argument("--db-dir", default=None, help="where the temporary SQLite file goes")
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="time our phase component by component (wall and CPU per update) instead of profiling",
    )
    parser.add_argument("--profile", metavar="FILE", help="profile our phase into FILE and print the hot spots")
    parser.add_argument(
        "--profiler",
        choices=["cprofile", "pyinstrument"],
        default="cprofile",
        help="cprofile (stdlib, deterministic, inflates call-heavy code) or pyinstrument"
        " (sampling, `pip install pyinstrument`; FILE gets its HTML report)",
    )
    parser.add_argument(
        "--profile-cpu",
        action="store_true",
        help="profile CPU time (time.process_time) instead of wall time: steadier on a busy machine,"
        " but blind to waiting for the disk (fsync)",
    )
    parser.add_argument("--profile-lines", type=int, default=30)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
