"""Lender broadcasts: one message to every borrower of a segment, each in their language, at
Telegram's rate, recorded per recipient so an interrupted broadcast resumes without messaging
anyone twice.

Flow::

    parse_segment("due-in:3")            -> Segment
    prepare(store, segment, content, ...) -> Prepared: recipients, every message rendered once
                                             (problems found before anything is recorded),
                                             the excluded, one sample per language
    describe(prepared)                    -> the --dry-run text (phones masked)
    create_broadcast(store, prepared, rate=30, paid=False, created_by=...) -> id
                                             (the broadcast + one `pending` row per recipient,
                                             one transaction)
    await send_broadcast(store, bot, id, ...) -> Counts(sent, blocked, failed, in_doubt, pending)

Segments (`today` is the date in BOT_TIMEZONE):

* ``due-in:N`` borrowers with an active plan and an instalment not yet paid due in exactly N days;
* ``overdue``  active plans with a missed instalment or an unpaid one past its due date;
* ``active``   active plans;
* ``all``      every borrower; those with no chat the bot may write to (never opened one, or not
  identified yet: an unverified chat is told nothing about a loan) are counted (``no_chat``);
* ``invited-not-started`` chats that opened an invitation link but have not identified yet.
  A bot can only write to someone who has opened a chat with it, so invited borrowers who
  never opened the link cannot be reached; they are counted (``no_chat``), not messaged.

Borrowers marked unreachable (they blocked the bot) are left out and counted.

Content is either a template ``broadcast.NAME`` from ``locales/<lang>/broadcasts.toml``,
rendered with the recipient's own plan facts (``due_date``, ``days_left``, ``amount_due``,
``overdue_amount``, ``currency``; a fact the recipient does not have is undefined, so a
template that needs it cannot be sent to them and `prepare` says so), or a lender's text from
a file (the same text for all, or TOML with one text per language), escaped as plain text.

Sending (`send_broadcast`). Each recipient goes pending -> sending -> sent | failed | blocked.
`sending` is written BEFORE the Bot API call and the outcome after it; both are written in
small batches (one SQLite transaction per ~0.1 s of sending, since a commit costs milliseconds).
A stop (Ctrl-C, a cancelled task, an error) records every outcome it has and puts back to
`pending` the claimed recipients whose message certainly did not go out (never attempted, or
refused). What stays `sending` is *in doubt*: a call was made and its answer never recorded (a
crash, a cancel mid-call, a stop while waiting to retry a timeout). Telegram has no
idempotency key, so `resume` does NOT resend those by default - nobody gets a message twice;
they are reported, and ``retry_in_doubt=True`` (``--retry-in-doubt``) sends them again for a
lender who prefers a possible duplicate to a possible gap. Run that only when no other process
is still sending the broadcast: its calls in flight look exactly like a crash's.

Pacing: at most ``rate`` calls in any window of 1 s + `Pacing.margin`, spread evenly, with a
bounded number in flight. RetryAfter pauses the whole broadcast for the time Telegram asks,
lowers the rate by `Pacing.slowdown`, and retries that message. NetworkError/TimedOut are
retried with exponential backoff, 3 attempts in all, then `failed` (a timed-out call may have
been delivered: this is the one place a duplicate is possible). Forbidden -> `blocked`, and
the borrower is marked unreachable. BadRequest (and any other refusal) -> `failed` with
Telegram's text. InvalidToken stops the broadcast: every other message would fail the same way.
"""

from __future__ import annotations

import asyncio
import functools
import html
import json
import time
import tomllib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta, tzinfo
from decimal import Decimal
from pathlib import Path

from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)

from bot.errors import BotError
from bot.i18n import LOCALES, Translator, resolve_locale
from bot.store import Store
from bot.store.statuses import BroadcastStatus, InstalmentStatus, RecipientStatus
from bot.support.masking import mask_phone
from bot.tg.send import retry_after

__all__ = [
    "DEFAULT_RATE",
    "MAX_PAID_RATE",
    "MAX_RATE",
    "BroadcastError",
    "Content",
    "Counts",
    "Pacing",
    "Prepared",
    "RateLimiter",
    "Recipient",
    "Segment",
    "check_rate",
    "create_broadcast",
    "describe",
    "load_message_file",
    "parse_segment",
    "plan_facts",
    "prepare",
    "send_broadcast",
    "template_content",
    "template_names",
]

DEFAULT_RATE = 30
MAX_RATE = 30  # messages per second Telegram allows a bot without paid broadcasts
MAX_PAID_RATE = 1000  # with allow_paid_broadcast (Telegram Stars are charged above 30/s)
MAX_TEXT = 4096
TEMPLATE_PREFIX = "broadcast."
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class BroadcastError(BotError):
    """A broadcast cannot be prepared, created or resumed (bad segment, template, file, rate)."""


# --------------------------------------------------------------------------- segments


@dataclass(frozen=True)
class Segment:
    kind: str  # active | due-in | overdue | all | invited-not-started
    days: int | None = None  # for due-in

    def __str__(self) -> str:
        return f"{self.kind}:{self.days}" if self.kind == "due-in" else self.kind


SEGMENT_KINDS = ("due-in:N", "overdue", "active", "invited-not-started", "all")


def parse_segment(text: str) -> Segment:
    kind, colon, days = text.strip().partition(":")
    if kind == "due-in" and colon:
        if days.isdigit() and int(days) <= 366:
            return Segment("due-in", int(days))
        raise BroadcastError(f"segment {text!r}: N in due-in:N must be a whole number of days (0-366)")
    if kind in ("overdue", "active", "invited-not-started", "all") and not colon:
        return Segment(kind)
    raise BroadcastError(f"unknown segment {text!r}; expected one of {', '.join(SEGMENT_KINDS)}")


@dataclass(frozen=True)
class Recipient:
    borrower_id: int
    chat_id: int | None
    locale: str
    phone: str

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)


# --------------------------------------------------------------------------- content


@dataclass(frozen=True)
class Content:
    """What to say: a catalogue template (``broadcast.<template>``) or the lender's own plain
    texts by locale (escaped for Telegram HTML when rendered)."""

    template: str | None = None
    texts: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if (self.template is None) == (self.texts is None):
            raise BroadcastError("a broadcast needs either a template or a message text")

    @property
    def label(self) -> str:
        return f"template {self.template}" if self.template else "message from a file"

    def record(self) -> tuple[str | None, str | None]:
        """(template, message_text) as stored in the broadcasts table."""
        return self.template, None if self.texts is None else json.dumps(self.texts, ensure_ascii=False)

    @classmethod
    def from_record(cls, row: dict) -> Content:
        if row["template"]:
            return cls(template=row["template"])
        return cls(texts=json.loads(row["message_text"]))

    def render(self, translator: Translator, locale: str, facts: dict) -> str:
        """The message for one recipient; BroadcastError says why it cannot be rendered."""
        if self.texts is not None:
            text = html.escape(self.texts[locale].strip(), quote=False)
        else:
            assert self.template is not None  # one or the other (`__post_init__`)
            missing = sorted(_variables(translator, locale, TEMPLATE_PREFIX + self.template) - set(facts))
            if missing:
                raise BroadcastError(
                    f"template {self.template} needs {', '.join(missing)}, which this recipient does not have"
                )
            text = translator.render(locale, TEMPLATE_PREFIX + self.template, **facts)
        if not text.strip():
            raise BroadcastError("the message is empty")
        if len(text.encode("utf-16-le")) // 2 > MAX_TEXT:
            raise BroadcastError(f"the message is longer than Telegram's {MAX_TEXT} characters")
        return text


@functools.lru_cache(maxsize=64)
def _variables(translator: Translator, locale: str, key: str) -> frozenset[str]:
    """The data a catalogue template uses (cached: a broadcast asks once per recipient)."""
    return translator.variables(locale, key)


def template_names(translator: Translator) -> list[str]:
    """The broadcast templates of the catalogue (``broadcast.NAME`` keys)."""
    return sorted(
        key.removeprefix(TEMPLATE_PREFIX) for key in translator.keys(LOCALES[0]) if key.startswith(TEMPLATE_PREFIX)
    )


def template_content(translator: Translator, name: str) -> Content:
    names = template_names(translator)
    if name not in names:
        raise BroadcastError(f"unknown template {name!r}; the catalogue has: {', '.join(names)}")
    return Content(template=name)


def load_message_file(path: str | Path) -> Content:
    """A lender's message: plain text for everyone, or TOML with one text per language
    (``en = "..."``, ``zh_CN = "..."``; every language must have one)."""
    try:
        raw = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BroadcastError(f"{path}: cannot read: {exc}") from None
    try:
        table = tomllib.loads(raw)
    except tomllib.TOMLDecodeError:
        table = None
    if table and set(table) & set(LOCALES):
        missing = [locale for locale in LOCALES if not isinstance(table.get(locale), str) or not table[locale].strip()]
        if missing:
            raise BroadcastError(f"{path}: no text for {', '.join(missing)}")
        unknown = sorted(set(table) - set(LOCALES))
        if unknown:
            raise BroadcastError(f"{path}: unknown languages {', '.join(unknown)}; expected {', '.join(LOCALES)}")
        return Content(texts={locale: table[locale] for locale in LOCALES})
    if not raw.strip():
        raise BroadcastError(f"{path}: the message is empty")
    return Content(texts=dict.fromkeys(LOCALES, raw))


def plan_facts(store: Store, borrower_ids: list[int], today: date) -> dict[int, dict]:
    """What a template may say about each recipient's own plan. The plan spoken of is the
    active plan with the next unpaid instalment (else the one with the oldest overdue one):
    ``currency``; ``due_date``, ``days_left`` and ``amount_due`` (still to pay) of the next
    instalment due today or later; ``overdue_amount``, what is unpaid of that plan's
    instalments that are missed or past due. Absent facts are left out."""
    rows: dict[int, list[dict]] = {}
    for row in store.recipient_plan_facts(borrower_ids):
        rows.setdefault(row["borrower_id"], []).append(row)
    facts = {}
    for borrower_id, unpaid in rows.items():
        overdue = [r for r in unpaid if r["status"] == InstalmentStatus.MISSED or r["due_date"] < today]
        upcoming = next((r for r in unpaid if r not in overdue), None)
        plan_id = (upcoming or overdue[0])["plan_id"]
        data: dict = {"currency": (upcoming or overdue[0])["currency"]}
        if upcoming is not None:
            data.update(
                due_date=upcoming["due_date"],
                days_left=(upcoming["due_date"] - today).days,
                amount_due=upcoming["amount"] - upcoming["paid"],
            )
        behind = [r["amount"] - r["paid"] for r in overdue if r["plan_id"] == plan_id]
        if behind:
            data["overdue_amount"] = sum(behind, Decimal(0))
        facts[borrower_id] = data
    return facts


def today_in(store: Store, tz: tzinfo) -> date:
    return store.clock().astimezone(tz).date()


# --------------------------------------------------------------------------- preparing


@dataclass
class Prepared:
    """A broadcast ready to record: who gets what, who is left out and why."""

    segment: Segment
    content: Content
    recipients: list[Recipient]
    texts: dict[int, str]  # borrower_id -> the rendered message
    unreachable: list[Recipient]  # blocked the bot earlier
    no_chat: list[Recipient]  # never opened a chat with the bot
    problems: dict[int, str] = field(default_factory=dict)  # borrower_id -> why no message

    def samples(self) -> dict[str, tuple[Recipient, str]]:
        """One rendered message per language, as the first recipient of each gets it."""
        found: dict[str, tuple[Recipient, str]] = {}
        for recipient in self.recipients:
            if recipient.borrower_id in self.texts:
                found.setdefault(recipient.locale, (recipient, self.texts[recipient.borrower_id]))
        return found


def prepare(
    store: Store, segment: Segment, content: Content, *, translator: Translator, tz: tzinfo, default_locale: str
) -> Prepared:
    """Select the segment's recipients and render every message (nothing is recorded)."""
    today = today_in(store, tz)
    day = today + timedelta(days=segment.days) if segment.days is not None else None
    reachable, unreachable, no_chat = [], [], []
    for row in store.segment_candidates(segment.kind, today=today, day=day):
        locale = resolve_locale(row["borrower_locale"], row["conversation_locale"], default_locale)
        recipient = Recipient(row["borrower_id"], row["chat_id"], locale, row["phone"])
        if row["chat_id"] is None:
            no_chat.append(recipient)
        elif row["unreachable_at"] is not None:
            unreachable.append(recipient)
        else:
            reachable.append(recipient)
    texts, problems = render_all(store, content, reachable, translator=translator, today=today)
    return Prepared(segment, content, reachable, texts, unreachable, no_chat, problems)


def render_all(
    store: Store, content: Content, recipients: list[Recipient], *, translator: Translator, today: date
) -> tuple[dict[int, str], dict[int, str]]:
    """Each recipient's message, and why for those it cannot be rendered for (by borrower id)."""
    facts = plan_facts(store, [r.borrower_id for r in recipients], today) if content.template else {}
    texts: dict[int, str] = {}
    problems: dict[int, str] = {}
    rendered: dict[tuple, str | BroadcastError] = {}  # recipients with the same facts share a text
    for recipient in recipients:
        data = facts.get(recipient.borrower_id, {})
        key = (recipient.locale, tuple(sorted(data.items())))
        if key not in rendered:
            try:
                rendered[key] = content.render(translator, recipient.locale, data)
            except BroadcastError as exc:
                rendered[key] = exc
        text = rendered[key]
        if isinstance(text, BroadcastError):
            problems[recipient.borrower_id] = str(text)
        else:
            texts[recipient.borrower_id] = text
    return texts, problems


def describe(prepared: Prepared, *, plain: Callable[[str], str] = lambda text: text) -> str:
    """The --dry-run report: who will and will not receive it, and why (the counts add up to
    the segment), every recipient (id, masked phone, language), any message that cannot be
    rendered (then nobody receives it: `create_broadcast` refuses), and one rendered sample
    per language (`plain` may strip markup)."""
    p = prepared
    total = len(p.recipients) + len(p.unreachable) + len(p.no_chat)
    receiving = 0 if p.problems else len(p.recipients)
    why_not = [
        f"{len(p.unreachable)} blocked the bot",
        f"{len(p.no_chat)} never opened a chat with the bot (or have not identified in it yet)",
    ]
    if p.problems:
        why_not.append(f"{len(p.recipients)} not sent because {len(p.problems)} messages cannot be rendered")
    lines = [
        f"segment {p.segment}, {p.content.label}: {total} borrowers; {receiving} recipients will receive it,"
        f" {total - receiving} will not ({'; '.join(why_not)})"
    ]
    lines += [f"  {r.borrower_id:>8}  {r.masked_phone:<16}  {r.locale}" for r in p.recipients]
    for title, group in (
        ("will not receive, blocked the bot", p.unreachable),
        ("will not receive, no chat with the bot", p.no_chat),
    ):
        if group:
            lines.append(f"{title}: " + ", ".join(f"{r.borrower_id} {r.masked_phone}" for r in group))
    if p.problems:
        lines.append(f"cannot render {len(p.problems)} messages:")
        lines += [f"  borrower {borrower_id}: {why}" for borrower_id, why in p.problems.items()]
    for locale, (recipient, text) in sorted(p.samples().items()):
        lines += ["", f"--- sample in {locale} (borrower {recipient.borrower_id}) ---", plain(text)]
    return "\n".join(lines)


def check_rate(rate: int, paid: bool) -> None:
    limit = MAX_PAID_RATE if paid else MAX_RATE
    if not 1 <= rate <= limit:
        hint = "" if paid else f" (up to {MAX_PAID_RATE} with --paid)"
        raise BroadcastError(f"--rate must be between 1 and {limit} messages per second{hint}")


def create_broadcast(
    store: Store, prepared: Prepared, *, rate: int = DEFAULT_RATE, paid: bool = False, created_by: str | None = None
) -> int:
    """Record the broadcast and its pending recipients; refuse if any message cannot be
    rendered or nobody would receive it."""
    check_rate(rate, paid)
    if prepared.problems:
        borrower_id, why = next(iter(prepared.problems.items()))
        raise BroadcastError(f"{len(prepared.problems)} messages cannot be rendered; borrower {borrower_id}: {why}")
    if not prepared.recipients:
        raise BroadcastError(f"segment {prepared.segment} has no reachable recipients")
    template, message_text = prepared.content.record()
    return store.create_broadcast(
        segment=str(prepared.segment),
        template=template,
        message_text=message_text,
        rate=rate,
        paid=paid,
        created_by=created_by,
        recipients=[
            {"borrower_id": r.borrower_id, "chat_id": r.chat_id, "locale": r.locale} for r in prepared.recipients
        ],
    )


# --------------------------------------------------------------------------- sending


@dataclass(frozen=True)
class Counts:
    sent: int = 0
    blocked: int = 0
    failed: int = 0
    in_doubt: int = 0  # `sending`: the call was made, its outcome never recorded
    pending: int = 0

    @classmethod
    def of(cls, store: Store, broadcast_id: int) -> Counts:
        c = store.broadcast_counts(broadcast_id)
        return cls(
            c[RecipientStatus.SENT],
            c[RecipientStatus.BLOCKED],
            c[RecipientStatus.FAILED],
            c[RecipientStatus.SENDING],
            c[RecipientStatus.PENDING],
        )

    @property
    def total(self) -> int:
        return self.sent + self.blocked + self.failed + self.in_doubt + self.pending

    def summary(self) -> str:
        text = f"sent {self.sent}, blocked {self.blocked}, failed {self.failed}, in doubt {self.in_doubt}"
        return text + (f", pending {self.pending}" if self.pending else "")


@dataclass(frozen=True)
class Pacing:
    """How hard to push. The defaults suit Telegram; tests shorten the waits."""

    margin: float = 0.02  # seconds added to the 1-second window the rate is counted over
    network_attempts: int = 3  # calls in all before a network error marks a message failed
    backoff: float = 0.5  # seconds before the 2nd attempt, doubled before each later one
    max_flood_waits: int = 10  # RetryAfter answers for one message before it is failed
    slowdown: float = 0.8  # the rate is multiplied by this after each RetryAfter
    claim_ahead: float = 0.1  # seconds' worth of recipients marked `sending` per transaction
    concurrency: int | None = None  # workers (calls in flight); default rate/2 within [4, 200]

    def in_flight(self, rate: float) -> int:
        return self.concurrency or max(4, min(200, int(rate) // 2))


class RateLimiter:
    """At most ``rate`` acquisitions in any window of ``1 + margin`` seconds, spaced
    ``1/rate`` apart (a late start may catch up by ``burst`` seconds' worth, never beyond the
    window's cap). `pause` stops everyone for a while and lowers the rate."""

    def __init__(
        self, rate: float, *, margin: float = 0.02, burst: float = 0.05, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = float(rate)
        self.window = 1.0 + margin
        self.burst = burst
        self.clock = clock
        self._starts: deque[float] = deque()
        self._next = 0.0
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    def pause(self, seconds: float, slowdown: float = 1.0) -> None:
        self._paused_until = max(self._paused_until, self.clock() + seconds)
        self.rate = max(1.0, self.rate * slowdown)

    def _wait(self, now: float) -> float:
        while self._starts and self._starts[0] <= now - self.window:
            self._starts.popleft()
        wait = max(self._paused_until, self._next) - now
        if len(self._starts) >= max(1, int(self.rate)):
            wait = max(wait, self._starts[0] + self.window - now)
        return wait

    async def acquire(self) -> None:
        async with self._lock:
            while (wait := self._wait(self.clock())) > 0:
                await asyncio.sleep(wait)
            now = self.clock()
            self._starts.append(now)
            self._next = max(self._next, now - self.burst) + 1.0 / self.rate


class _Sender:
    """A pool of workers, each taking the next claimed recipient and delivering its message.
    Claims and outcomes are written in batches by whichever worker finds nothing claimed."""

    def __init__(
        self,
        store: Store,
        bot,
        broadcast: dict,
        recipients: list[dict],
        texts: dict[int, str],
        problems: dict[int, str],
        pacing: Pacing,
        progress: Callable[[int], object] | None,
    ) -> None:
        self.store, self.bot, self.pacing, self.progress = store, bot, pacing, progress
        self.broadcast_id = broadcast["id"]
        self.paid = bool(broadcast["paid"])
        self.rate = broadcast["rate"]
        self.limiter = RateLimiter(self.rate, margin=pacing.margin)
        self.queue = deque(recipients)
        self.texts, self.problems = texts, problems
        self.ready: deque[dict] = deque()  # claimed (`sending`), not started
        self.claimed: set[int] = set()  # claimed and not finished
        self.maybe_sent: set[int] = set()  # a call was made whose outcome is not known yet
        self.results: list[dict] = []  # finished, not yet saved

    async def run(self) -> None:
        workers = [asyncio.create_task(self._work()) for _ in range(self.pacing.in_flight(self.rate))]
        try:
            await asyncio.gather(*workers)  # the first error stops everything
        finally:
            await self._stop(workers)

    async def _work(self) -> None:
        while self.ready or self.queue:
            if self.ready:
                await self._deliver(self.ready.popleft())
            else:
                self._save_and_claim()

    def _save_and_claim(self) -> None:
        size = max(1, round(self.rate * self.pacing.claim_ahead))
        batch = [self.queue.popleft() for _ in range(min(size, len(self.queue)))]
        with self.store.transaction():
            self._save()
            claimed = set(self.store.claim_recipients(self.broadcast_id, [r["borrower_id"] for r in batch]))
        self.claimed |= claimed
        self.ready.extend(r for r in batch if r["borrower_id"] in claimed)

    def _save(self) -> None:
        results, self.results = self.results, []
        if results:
            self.store.save_results(self.broadcast_id, results)

    async def _stop(self, workers: list[asyncio.Task]) -> None:
        """Cancel what is in flight, record every outcome, put back what certainly did not go out."""
        for worker in workers:
            worker.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        with self.store.transaction():
            self._save()
            self.store.release_recipients(self.broadcast_id, self.claimed - self.maybe_sent)

    def _finish(self, recipient: dict, status: RecipientStatus, error: str | None, attempts: int) -> None:
        self.claimed.discard(recipient["borrower_id"])
        self.maybe_sent.discard(recipient["borrower_id"])
        self.results.append(
            {
                "borrower_id": recipient["borrower_id"],
                "status": status,
                "error": error,
                "attempts": attempts,
                "at": self.store.clock(),
            }
        )
        if self.progress is not None:
            self.progress(1)

    async def _deliver(self, recipient: dict) -> None:
        borrower_id = recipient["borrower_id"]
        if borrower_id in self.problems:
            self._finish(recipient, RecipientStatus.FAILED, self.problems[borrower_id], 0)
            return
        attempts = network_errors = flood_waits = 0
        while True:
            await self.limiter.acquire()
            self.maybe_sent.add(borrower_id)
            attempts += 1
            try:
                await self.bot.send_message(
                    recipient["chat_id"],
                    self.texts[borrower_id],
                    parse_mode=ParseMode.HTML,
                    link_preview_options=NO_PREVIEW,
                    allow_paid_broadcast=True if self.paid else None,
                )
            except RetryAfter as exc:
                flood_waits += 1
                if flood_waits > self.pacing.max_flood_waits:
                    return self._finish(recipient, RecipientStatus.FAILED, f"flood control: {exc}", attempts)
                self.maybe_sent.discard(borrower_id)  # refused: certainly not delivered
                self.limiter.pause(retry_after(exc).total_seconds(), self.pacing.slowdown)
            except Forbidden as exc:
                return self._finish(recipient, RecipientStatus.BLOCKED, str(exc), attempts)
            except BadRequest as exc:
                return self._finish(recipient, RecipientStatus.FAILED, str(exc), attempts)
            except InvalidToken:
                self.maybe_sent.discard(borrower_id)  # refused: certainly not delivered
                raise
            except NetworkError as exc:  # includes TimedOut: it may have been delivered
                network_errors += 1
                if network_errors >= self.pacing.network_attempts:
                    return self._finish(recipient, RecipientStatus.FAILED, f"network: {exc}", attempts)
                await asyncio.sleep(self.pacing.backoff * 2 ** (network_errors - 1))
            except TelegramError as exc:
                return self._finish(recipient, RecipientStatus.FAILED, str(exc), attempts)
            else:
                return self._finish(recipient, RecipientStatus.SENT, None, attempts)


async def send_broadcast(
    store: Store,
    bot,
    broadcast_id: int,
    *,
    progress: Callable[[int], object] | None = None,
    translator: Translator | None = None,
    tz: tzinfo = UTC,
    retry_in_doubt: bool = False,
    pacing: Pacing = Pacing(),
) -> Counts:
    """Send broadcast `broadcast_id` to its pending recipients (a new one, or the rest of an
    interrupted one) and return the counts. `progress(n)` is called as recipients finish.
    `tz` is BOT_TIMEZONE (templates speak of "today"). `bot` must be initialized."""
    broadcast = store.get_broadcast(broadcast_id)
    if broadcast is None:
        raise BroadcastError(f"no broadcast {broadcast_id}")
    if retry_in_doubt:
        store.requeue_in_doubt(broadcast_id)
    rows = store.broadcast_recipients(broadcast_id, RecipientStatus.PENDING)
    content = Content.from_record(broadcast)
    recipients = [Recipient(r["borrower_id"], r["chat_id"], r["locale"], r["phone"]) for r in rows]
    texts, problems = render_all(
        store, content, recipients, translator=translator or Translator(), today=today_in(store, tz)
    )
    store.set_broadcast_status(broadcast_id, BroadcastStatus.SENDING)
    try:
        await _Sender(store, bot, broadcast, rows, texts, problems, pacing, progress).run()
    except BaseException:
        store.set_broadcast_status(broadcast_id, BroadcastStatus.INTERRUPTED)
        raise
    counts = Counts.of(store, broadcast_id)
    store.set_broadcast_status(broadcast_id, BroadcastStatus.FINISHED, finished=True)
    return counts
