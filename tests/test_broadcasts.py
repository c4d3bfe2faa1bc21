"""Lender broadcasts: segments, per-language rendering, Telegram's errors, the rate, an
interrupted broadcast resumed without messaging anyone twice, and the CLI (dry run, send,
resume) against an HTTP Bot API stub."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime

import pytest
import telegram
from click.testing import CliRunner
from telegram.error import TimedOut

from bot.cli import main
from bot.i18n import Translator
from bot.lender.broadcasts import (
    BroadcastError,
    Counts,
    Pacing,
    RateLimiter,
    create_broadcast,
    describe,
    load_message_file,
    parse_segment,
    prepare,
    send_broadcast,
    template_content,
)
from bot.store import Store
from botapi_stub import BotApiStub
from fakebot import TOKEN, FakeBotAPI
from fixtures import NOW, SHANGHAI
from lender_data import book

FAST = Pacing(backoff=0.01)
TRANSLATOR = Translator()


@pytest.fixture
def store():
    with book() as s:
        yield s


@pytest.fixture
async def bot(fake_api):
    async with telegram.Bot(TOKEN, request=fake_api, get_updates_request=fake_api) as b:
        yield b


def prepared(store, segment: str, template: str = "new_plans_available", **kw):
    content = kw.pop("content", None) or template_content(TRANSLATOR, template)
    return prepare(
        store,
        parse_segment(segment),
        content,
        translator=TRANSLATOR,
        tz=kw.pop("tz", SHANGHAI),
        default_locale=kw.pop("default_locale", "zh_CN"),
    )


def start(store, segment: str, template: str = "new_plans_available", **kw) -> int:
    return create_broadcast(store, prepared(store, segment, template), **kw)


async def send(store, bot, broadcast_id, **kw) -> Counts:
    return await send_broadcast(
        store, bot, broadcast_id, translator=TRANSLATOR, tz=SHANGHAI, pacing=kw.pop("pacing", FAST), **kw
    )


def delivered(fake) -> Counter:
    """Messages Telegram accepted, per chat."""
    return Counter(int(m["chat_id"]) for m in fake.sent_messages() if m["method"] == "sendMessage")


def statuses(store, broadcast_id) -> dict[int, str]:
    return {r["borrower_id"]: r["status"] for r in store.broadcast_recipients(broadcast_id)}


# ------------------------------------------------------------------ segments


@pytest.mark.parametrize(
    "segment, recipients, unreachable, no_chat",
    [
        ("due-in:3", [1], [], []),
        ("due-in:4", [], [], []),
        ("overdue", [2, 3], [], []),
        ("active", [1, 2, 3], [5], []),
        ("all", [1, 2, 3, 4, 8], [5], [6, 7]),  # 6 opened the invitation, not identified: told nothing
        ("invited-not-started", [6], [], [7]),
    ],
)
def test_segments(store, segment, recipients, unreachable, no_chat):
    p = prepared(store, segment)
    assert [r.borrower_id for r in p.recipients] == recipients
    assert [r.borrower_id for r in p.unreachable] == unreachable
    assert [r.borrower_id for r in p.no_chat] == no_chat


def test_the_counts_of_all_account_for_every_borrower(store):
    """Who will and who will not receive it add up to the whole book, each with its reason."""
    p = prepared(store, "all", "new_plans_available")
    total = store.db.execute("SELECT count(*) FROM borrowers").fetchone()[0]
    assert len(p.recipients) + len(p.unreachable) + len(p.no_chat) == total == 8
    assert describe(p).startswith(
        "segment all, template new_plans_available: 8 borrowers; 5 recipients will"
        " receive it, 3 will not (1 blocked the bot; 2 never opened a chat"
    )
    assert "will not receive, no chat with the bot: 6 +86*******4000, 7 +86*******3000" in describe(p)


def test_invited_not_started_writes_to_the_chat_that_opened_the_link(store):
    (recipient,) = prepared(store, "invited-not-started", "finish_setting_up").recipients
    assert (recipient.borrower_id, recipient.chat_id, recipient.locale) == (6, 906, "en")


def test_due_in_counts_days_in_the_lenders_time_zone():
    late_evening_utc = datetime(2026, 11, 28, 17, 0, tzinfo=UTC)  # already 11-29 in Shanghai
    with book(clock=lambda: late_evening_utc) as s:
        assert [r.borrower_id for r in prepared(s, "due-in:2").recipients] == [1]
        assert [r.borrower_id for r in prepared(s, "due-in:3", tz=UTC).recipients] == [1]
        assert prepared(s, "due-in:3").recipients == []


def test_a_recipients_language_is_theirs_else_their_chats_else_the_default(store):
    by_id = {r.borrower_id: r.locale for r in prepared(store, "all").recipients}
    assert by_id == {1: "zh_CN", 2: "en", 3: "en", 4: "en", 8: "en"}  # 3: the chat's language
    store.db.execute("UPDATE conversations SET locale = NULL WHERE chat_id = 903")
    assert {r.borrower_id: r.locale for r in prepared(store, "all", default_locale="en").recipients}[3] == "en"
    assert {r.borrower_id: r.locale for r in prepared(store, "all").recipients}[3] == "zh_CN"


@pytest.mark.parametrize("text", ["due-in", "due-in:x", "due-in:-1", "overdue:2", "everyone", ""])
def test_bad_segments_are_refused(text):
    with pytest.raises(BroadcastError, match="segment"):
        parse_segment(text)


# ------------------------------------------------------------------ content


def test_a_template_that_needs_plan_facts_is_refused_for_recipients_without_a_plan(store):
    p = prepared(store, "all", "payment_due_soon")
    assert set(p.problems) == {4, 8}  # a completed and a broken plan: nothing due
    assert "amount_due" in p.problems[4]
    with pytest.raises(BroadcastError, match="cannot be rendered"):
        create_broadcast(store, p)
    assert store.db.execute("SELECT count(*) FROM broadcasts").fetchone()[0] == 0


def test_unknown_template_names_the_ones_there_are():
    with pytest.raises(BroadcastError, match="payment_due_soon"):
        template_content(TRANSLATOR, "nope")


def test_message_file_plain_text_is_escaped(tmp_path):
    path = tmp_path / "note.txt"
    path.write_text("Office closed <Friday> & Monday\n", encoding="utf-8")
    content = load_message_file(path)
    assert content.render(TRANSLATOR, "zh_CN", {}) == "Office closed &lt;Friday&gt; &amp; Monday"


def test_message_file_toml_has_a_text_per_language(tmp_path):
    path = tmp_path / "note.toml"
    path.write_text('en = "Closed on Friday"\nzh_CN = "周五休息"\n', encoding="utf-8")
    content = load_message_file(path)
    rendered = (content.render(TRANSLATOR, "en", {}), content.render(TRANSLATOR, "zh_CN", {}))
    assert rendered == ("Closed on Friday", "周五休息")
    path.write_text('en = "Closed on Friday"\n', encoding="utf-8")
    with pytest.raises(BroadcastError, match="no text for zh_CN"):
        load_message_file(path)


def test_rate_is_limited_unless_paid(store):
    p = prepared(store, "overdue")
    for rate, paid in ((31, False), (0, False), (1001, True)):
        with pytest.raises(BroadcastError, match="--rate"):
            create_broadcast(store, p, rate=rate, paid=paid)
    assert create_broadcast(store, p, rate=1000, paid=True)


# ------------------------------------------------------------------ sending


async def test_each_recipient_gets_the_message_in_their_language(store, bot, fake_api):
    broadcast_id = start(store, "active", "payment_due_soon")
    counts = await send(store, bot, broadcast_id)
    assert counts == Counts(sent=3)
    assert delivered(fake_api) == {901: 1, 902: 1, 903: 1}
    assert "¥1,000.00" in fake_api.last_text(901) and "2026年12月1日" in fake_api.last_text(901)
    assert "CN¥700.00" in fake_api.last_text(902) and "Dec 20, 2026" in fake_api.last_text(902)
    assert "CN¥800.00" in fake_api.last_text(903) and "Dec 15, 2026" in fake_api.last_text(903)
    assert all(m["parse_mode"] == "HTML" and "allow_paid_broadcast" not in m for m in fake_api.sent_messages())
    rows = store.broadcast_recipients(broadcast_id)
    assert [(r["status"], r["attempts"], r["sent_at"]) for r in rows] == [("sent", 1, NOW)] * 3
    assert store.get_broadcast(broadcast_id)["status"] == "finished"


async def test_paid_broadcast_asks_telegram_for_paid_delivery(store, bot, fake_api):
    await send(store, bot, start(store, "overdue", rate=300, paid=True))
    assert [m["allow_paid_broadcast"] for m in fake_api.sent_messages()] == [True, True]


async def test_retry_after_pauses_and_retries_the_message(store, bot, fake_api):
    fake_api.fail_next("sendMessage", error_code=429, retry_after=1)
    broadcast_id = start(store, "overdue")
    began = time.monotonic()
    counts = await send(store, bot, broadcast_id)
    assert time.monotonic() - began >= 1.0
    assert counts == Counts(sent=2)
    assert delivered(fake_api) == {902: 1, 903: 1}
    assert sorted(r["attempts"] for r in store.broadcast_recipients(broadcast_id)) == [1, 2]


async def test_network_errors_are_retried_then_the_message_fails(store, bot, fake_api):
    fake_api.fail_next("sendMessage", exception=TimedOut(), times=2)
    first = start(store, "due-in:3")
    assert await send(store, bot, first) == Counts(sent=1)
    fake_api.fail_next("sendMessage", error_code=502, times=3)
    second = start(store, "due-in:3")
    assert await send(store, bot, second) == Counts(failed=1)
    (row,) = store.broadcast_recipients(second)
    assert row["attempts"] == 3 and row["last_error"].startswith("network:")
    assert delivered(fake_api) == {901: 1}


async def test_forbidden_marks_the_borrower_blocked_and_unreachable(store, bot, fake_api):
    fake_api.fail_next("sendMessage", error_code=403)
    broadcast_id = start(store, "due-in:3")
    assert await send(store, bot, broadcast_id) == Counts(blocked=1)
    assert store.get_borrower(1)["unreachable_at"] == NOW
    assert (
        store.db.execute(
            "SELECT count(*) FROM audit WHERE event = 'borrower_unreachable' AND borrower_id = 1"
        ).fetchone()[0]
        == 1
    )
    assert [r.borrower_id for r in prepared(store, "active").unreachable] == [1, 5]


async def test_bad_request_fails_with_telegrams_words(store, bot, fake_api):
    fake_api.fail_next("sendMessage", error_code=400, description="Bad Request: chat not found")
    broadcast_id = start(store, "due-in:3")
    assert await send(store, bot, broadcast_id) == Counts(failed=1)
    assert store.broadcast_recipients(broadcast_id)[0]["last_error"] == "Chat not found"


class Crash(Exception):
    pass


async def test_a_crashed_broadcast_resumed_reaches_everyone_exactly_once(store, bot, fake_api):
    broadcast_id = start(store, "all")
    done = []

    def crash_after_two(n):
        done.append(n)
        if len(done) == 2:
            raise Crash

    with pytest.raises(Crash):
        await send(store, bot, broadcast_id, progress=crash_after_two)
    assert Counts.of(store, broadcast_id) == Counts(sent=2, pending=3)
    assert store.get_broadcast(broadcast_id)["status"] == "interrupted"
    assert await send(store, bot, broadcast_id) == Counts(sent=5)
    assert delivered(fake_api) == {901: 1, 902: 1, 903: 1, 904: 1, 908: 1}


class SlowAPI(FakeBotAPI):
    """Answers after `latency`; `arrived` counts calls as they come in, before the wait."""

    def __init__(self, latency: float) -> None:
        super().__init__(latency=latency)
        self.arrived: list[str] = []

    async def do_request(self, url, method, request_data=None, **kwargs):
        self.arrived.append(url.rsplit("/", 1)[-1])
        return await super().do_request(url, method, request_data, **kwargs)


async def test_a_cancelled_broadcast_leaves_only_calls_in_flight_in_doubt(store):
    slow = SlowAPI(latency=0.5)
    async with telegram.Bot(TOKEN, request=slow, get_updates_request=slow) as bot:
        broadcast_id = start(store, "all", rate=10)
        task = asyncio.create_task(send(store, bot, broadcast_id))
        while slow.arrived.count("sendMessage") < 2:  # calls start 0.1 s apart; none is answered yet
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert Counts.of(store, broadcast_id) == Counts(in_doubt=2, pending=3)
        in_doubt = [r["chat_id"] for r in store.broadcast_recipients(broadcast_id, "sending")]

        assert await send(store, bot, broadcast_id) == Counts(sent=3, in_doubt=2)  # nobody twice
        assert not set(in_doubt) & set(delivered(slow))
        assert await send(store, bot, broadcast_id, retry_in_doubt=True) == Counts(sent=5)
        assert delivered(slow) == {901: 1, 902: 1, 903: 1, 904: 1, 908: 1}


async def test_a_message_refused_with_retry_after_is_not_in_doubt_when_stopped(store, bot, fake_api):
    fake_api.fail_next("sendMessage", error_code=429, retry_after=1)
    broadcast_id = start(store, "due-in:3")
    task = asyncio.create_task(send(store, bot, broadcast_id))
    while not fake_api.failed_calls:  # Telegram said "retry after 1 s"; the sender waits
        await asyncio.sleep(0.005)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert Counts.of(store, broadcast_id) == Counts(pending=1)  # certainly not delivered
    assert await send(store, bot, broadcast_id) == Counts(sent=1)
    assert delivered(fake_api) == {901: 1}


async def test_resume_of_an_unknown_broadcast_is_an_error(store, bot):
    with pytest.raises(BroadcastError, match="no broadcast 99"):
        await send(store, bot, 99)


async def test_rate_limiter_never_exceeds_the_rate_in_any_window():
    limiter = RateLimiter(20, margin=0.02)
    starts = []
    began = time.monotonic()
    for _ in range(30):
        await limiter.acquire()
        starts.append(time.monotonic())
    assert all(later - earlier >= 1.0 for earlier, later in zip(starts, starts[20:], strict=False))
    assert time.monotonic() - began < 2.0  # ~1.47 s: 20 in the first window, 10 more at 20/s


# ------------------------------------------------------------------ the command line


@pytest.fixture
def env(cli_env, monkeypatch):
    monkeypatch.setenv("BOT_TOKEN", TOKEN)
    book(cli_env).close()
    return cli_env


def cli(*args):
    return CliRunner().invoke(main, ["broadcast", *args])


def test_dry_run_shows_masked_recipients_and_a_sample_per_language_and_records_nothing(env):
    result = cli("--segment", "all", "--template", "new_plans_available", "--dry-run")
    assert result.exit_code == 0, result.output
    assert (
        "segment all, template new_plans_available: 8 borrowers; 5 recipients will receive it, 3 will not"
        " (1 blocked the bot; 2 never opened a chat with the bot (or have not identified in it yet))"
    ) in result.output
    assert "+86*******8000" in result.output and "+8613800138000" not in result.output
    assert "--- sample in en" in result.output and "--- sample in zh_CN" in result.output
    assert "New repayment options" in result.output and "新的还款方案" in result.output
    with Store(env) as s:
        assert s.db.execute("SELECT count(*) FROM broadcasts").fetchone()[0] == 0


def test_dry_run_of_invited_not_started_counts_who_never_opened_the_chat(env):
    result = cli("--segment", "invited-not-started", "--template", "finish_setting_up", "--dry-run")
    assert result.exit_code == 0, result.output
    assert (
        "2 borrowers; 1 recipients will receive it, 1 will not (0 blocked the bot; 1 never opened a chat"
        " with the bot (or have not identified in it yet))" in result.output
    )


@pytest.mark.parametrize(
    "args, message",
    [
        (["--segment", "all"], "either --template NAME or --message-file FILE"),
        (["--segment", "all", "--template", "x", "--rate", "50"], "--rate must be between 1 and 30"),
        (["--segment", "weekly", "--template", "new_plans_available"], "unknown segment 'weekly'"),
        (["--segment", "all", "--template", "payment_due_soon"], "cannot be rendered"),
    ],
)
def test_cli_errors_are_one_line(env, args, message):
    result = cli(*args)
    assert result.exit_code != 0 and message in result.output


def test_cli_sends_then_resume_has_nothing_left(env, monkeypatch):
    with BotApiStub(token=TOKEN) as stub:
        monkeypatch.setenv("BOT_API_URL", stub.base_url)
        result = cli("--segment", "overdue", "--template", "overdue_contact_us")
        assert result.exit_code == 0, result.output
        assert "broadcast 1: sent 2, blocked 0, failed 0, in doubt 0" in result.output
        assert sorted(m["chat_id"] for m in stub.sent_messages()) == [902, 903]
        resumed = cli("resume", "1")
        assert resumed.exit_code == 0 and "broadcast 1: sent 2" in resumed.output
        assert len(stub.sent_messages()) == 2
    shown = cli("show", "1")
    header, *rows = shown.output.splitlines()
    assert header.startswith("broadcast 1: overdue, overdue_contact_us, finished; sent 2")
    assert [row.split()[:4] for row in rows] == [
        ["2", "+86*******9000", "en", "sent"],
        ["3", "+86*******7000", "en", "sent"],
    ]
    assert "overdue" in cli("list").output
