"""The reminder dispatcher: sends what the outbox (the `reminders` table) says is due.

One `run_once` pass: release reminders a dead process left `sending`, notice missed
instalments (`bot.lender.plan_life.notice_misses`), then for each due reminder: drop it if no
longer relevant (instalment paid, plan ended: `cancelled`), or if its moment has passed by more
than its kind allows (`skipped`, see `too_late`), postpone it out of quiet hours, claim it
(pending -> sending), render it in the borrower's language for the day it goes out and send
it. Outcomes:

    sent       delivered
    skipped    too late to be true: a "due in 3 days" on the due date, a "today is the due
               date" a day late, a "has not arrived yet" once the instalment is missed
    pending    RetryAfter (retry after Telegram's delay; the pass stops there) or a network
               error (retried with backoff: 1, 2, 4, 8 minutes), attempts counted
    failed     after MAX_ATTEMPTS network errors, a BadRequest, or an unexpected error (logged)
    blocked    Forbidden: the borrower blocked the bot; they are marked unreachable

Nothing raises out of a pass, and nothing is dropped without a status and a reason. The pass
runs every minute inside `restructure-bot run` (PTB's JobQueue) and on demand as
`restructure-bot reminders send [--as-of] [--dry-run]`. `dry_run` runs a real pass against a
stand-in bot inside a transaction it then rolls back: it reports what would be sent and what
would change (reminder states, audit events such as an instalment missed or a plan broken),
and nothing is sent or changed.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.i18n import plain_text
from bot.lender.plan_life import next_allowed, notice_misses
from bot.services import plan_view
from bot.store import found
from bot.store.statuses import InstalmentStatus, PlanStatus, ReminderStatus
from bot.tg.send import retry_after, send_messages
from bot.turn import Conversations, Message
from plans.policy import Policy

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
STALE_SENDING = timedelta(minutes=10)
BATCH = 200

#: What one reminder did in a pass: (the reminder as it was due, its outcome).
Observer = Callable[[dict, str], None]


def too_late(kind: str, due: date, today: date, grace_days: int) -> str | None:
    """Why a reminder of `kind` for an instalment due on `due` would no longer be true if sent
    on the borrower's local day `today` (None: it is still true).

    * `before:N` ("due in N days") holds until the due date: sent later than planned it says
      how many days are really left; on or after the due date it is skipped.
    * `before:0` ("today is the due date") holds on the due date only.
    * `after:N` ("has not arrived yet") holds for the grace days; then the instalment is
      missed and the check-in speaks for it.
    * check-ins, thank-yous and "your plan has ended" hold whenever they go out.
    """
    name, _, days = kind.partition(":")
    if kind == "before:0" and today != due:
        return f"too late: the due date {due} has passed"
    if name == "before" and days != "0" and today >= due:
        return f"too late: the due date {due} has come"
    if name == "after" and today > due + timedelta(days=grace_days):
        return f"too late: the instalment due {due} is past its {grace_days} grace days"
    return None


class Dispatcher:
    def __init__(
        self, conversations: Conversations, policy: Policy, zone: ZoneInfo, clock: Callable[[], datetime]
    ) -> None:
        self.conversations = conversations
        self.store = conversations.store
        self.policy = policy
        self.zone = zone
        self.clock = clock

    async def run_once(self, bot: Bot, now: datetime | None = None, observe: Observer | None = None) -> Counter:
        """One pass over the outbox; returns how many reminders ended in each state.
        `observe(reminder, outcome)` is told of each reminder (a dry run lists them)."""
        now = now or self.clock()
        outcome: Counter = Counter()
        self.store.release_stale_reminders(now - STALE_SENDING)
        notice_misses(self.store, self.policy, now, self.zone)
        for reminder in self.store.due_reminders(now, BATCH):
            flood = False
            try:
                status = await self._deliver(bot, reminder, now)
            except RetryAfter as error:
                self.store.finish_reminder(
                    reminder["id"], ReminderStatus.PENDING, error=str(error), retry_at=now + retry_after(error)
                )
                status, flood = ReminderStatus.PENDING, True
            outcome[status] += 1
            if observe:
                observe(reminder, status)
            if flood:
                break  # Telegram asked us to slow down: the rest waits for the next pass
        return outcome

    async def _deliver(self, bot: Bot, reminder: dict, now: datetime) -> str:
        borrower = found(self.store.get_borrower(reminder["borrower_id"]), f"borrower {reminder['borrower_id']}")
        zone = ZoneInfo(borrower["timezone"]) if borrower.get("timezone") else self.zone
        today = now.astimezone(zone).date()
        reason = self._irrelevant(reminder, borrower, today)
        if reason:
            status = (
                ReminderStatus.BLOCKED
                if reason == "blocked"
                else ReminderStatus.SKIPPED
                if reason.startswith("too late")
                else ReminderStatus.CANCELLED
            )
            self.store.finish_reminder(reminder["id"], status, error=reason)
            return status
        allowed = next_allowed(now, zone, self.policy.reminders)
        if allowed > now:
            self.store.finish_reminder(reminder["id"], ReminderStatus.PENDING, error="quiet hours", send_at=allowed)
            return "postponed"
        if not self.store.claim_reminder(reminder["id"], now):
            return "taken"
        chat_id = borrower["telegram_chat_id"]
        try:
            messages = self._messages(reminder, chat_id, today)
            await send_messages(bot, self.conversations, chat_id, messages)
        except RetryAfter:
            raise
        except Forbidden as error:
            self.store.finish_reminder(reminder["id"], ReminderStatus.BLOCKED, error=str(error))
            self.store.mark_unreachable(borrower["id"], now, str(error))
            return ReminderStatus.BLOCKED
        except BadRequest as error:
            self.store.finish_reminder(reminder["id"], ReminderStatus.FAILED, error=str(error))
            log.warning("reminder %s refused by Telegram: %s", reminder["id"], error)
            return ReminderStatus.FAILED
        except NetworkError as error:
            if reminder["attempts"] + 1 >= MAX_ATTEMPTS:
                self.store.finish_reminder(reminder["id"], ReminderStatus.FAILED, error=f"network: {error}")
                return ReminderStatus.FAILED
            backoff = timedelta(minutes=2 ** reminder["attempts"])
            self.store.finish_reminder(
                reminder["id"], ReminderStatus.PENDING, error=f"network: {error}", retry_at=now + backoff
            )
            return ReminderStatus.PENDING
        except Exception as error:  # never let one reminder stop the others
            log.exception("reminder %s could not be sent", reminder["id"])
            self.store.finish_reminder(reminder["id"], ReminderStatus.FAILED, error=f"{type(error).__name__}: {error}")
            return ReminderStatus.FAILED
        self.store.finish_reminder(reminder["id"], ReminderStatus.SENT)
        return ReminderStatus.SENT

    def _irrelevant(self, reminder: dict, borrower: dict, today: date) -> str | None:
        """Why this reminder should not go out any more, if it should not (the borrower's
        local day is `today`)."""
        if borrower.get("unreachable_at"):
            return ReminderStatus.BLOCKED
        if not borrower.get("telegram_chat_id"):
            return "borrower has no Telegram chat"
        plan = self.store.plan(reminder["plan_id"])
        kind = reminder["kind"]
        if kind.startswith(("thanks:", "broken")):
            return None
        if plan["status"] != PlanStatus.ACTIVE:
            return f"plan {plan['status']}"
        row = next(r for r in self.store.plan_installments(plan["id"]) if r["number"] == reminder["installment_number"])
        if row["status"] == InstalmentStatus.PAID:
            return "already paid"
        if kind == "checkin" and row["status"] != InstalmentStatus.MISSED:
            return "no longer missed"
        return too_late(kind, row["due_date"], today, self.policy.reminders.grace_days)

    def _messages(self, reminder: dict, chat_id: int, today: date) -> list[Message]:
        """The reminder as it reads on the borrower's day `today` (a "due in N days" sent late
        says how many days are really left)."""
        kind, number = reminder["kind"], reminder["installment_number"]
        if kind == "checkin":
            plan_id = reminder["plan_id"]
            return self.conversations.push(chat_id, lambda dialogue, state: dialogue.checkin(state, plan_id))
        plan = self.store.plan(reminder["plan_id"])
        instalments = self.store.plan_installments(plan["id"])
        view = plan_view(plan, instalments, today)
        instalment = next(i for i in view["instalments"] if i["number"] == number)
        name = kind.partition(":")[0]
        key = "reminder.due_today" if kind == "before:0" else f"reminder.{name}"
        locale = self.conversations.locale_for(chat_id, None)
        due = next(r["due_date"] for r in instalments if r["number"] == number)
        text = self.conversations.translator.render(
            locale, key, plan=view, instalment=instalment, days=(due - today).days
        )
        self.store.log_message(
            direction="out",
            chat_id=chat_id,
            text=text,
            at=self.clock(),
            step=f"reminder:{kind}",
            borrower_id=plan["borrower_id"],
        )
        return [Message(text)]


# --------------------------------------------------------------------------- dry run


class StandInBot:
    """Takes the Bot's place in a dry run: records what would be sent, sends nothing."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []  # (chat id, text as the borrower would read it)

    async def send_message(self, chat_id: int, text: str, **_: object) -> SimpleNamespace:
        self.sent.append((chat_id, plain_text(text)))
        return SimpleNamespace(message_id=len(self.sent))

    async def send_photo(self, chat_id: int, photo: object, **_: object) -> SimpleNamespace:
        return await self.send_message(chat_id, f"[file {getattr(photo, 'filename', 'photo')}]")

    async def send_document(self, chat_id: int, document: object, **_: object) -> SimpleNamespace:
        return await self.send_message(chat_id, f"[file {getattr(document, 'filename', 'document')}]")


@dataclass
class DryRun:
    """What a pass at `now` would do: each reminder's outcome (its row as it would be after
    the pass, and the messages it would send), and the audit events it would record."""

    now: datetime
    outcome: Counter
    reminders: list[tuple[dict, list[tuple[int, str]]]] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)

    def describe(self, zone: ZoneInfo) -> str:
        counts = ", ".join(f"{status} {count}" for status, count in sorted(self.outcome.items())) or "nothing due"
        lines = [
            (
                f"dry run of a pass at {self.now.astimezone(zone):%Y-%m-%d %H:%M} ({zone.key}):"
                " nothing was sent or changed"
            ),
            f"would end: {counts}",
        ]
        for row, messages in self.reminders:
            what = f"reminder {row['id']} (plan {row['plan_id']}, payment {row['installment_number']}, {row['kind']})"
            if row["status"] == ReminderStatus.SENT:
                lines.append(f"  {what}: would send to chat {messages[0][0] if messages else '-'}:")
                lines += [f"    {line}" for _, text in messages for line in text.splitlines()]
            else:
                reason = f": {row['last_error']}" if row["last_error"] else ""
                lines.append(f"  {what}: would be {row['status']}{reason}")
        if self.events:
            lines.append("would also record:")
            lines += [
                f"  {event['event']}: " + ", ".join(f"{key} {value}" for key, value in event["details"].items())
                for event in self.events
            ]
        return "\n".join(lines)


async def dry_run(dispatcher: Dispatcher, now: datetime | None = None) -> DryRun:
    """A real pass against a `StandInBot`, inside a transaction that is rolled back."""
    now = now or dispatcher.clock()
    store, bot = dispatcher.store, StandInBot()
    seen: list[tuple[int, int]] = []  # (reminder id, messages sent before it)

    def observe(reminder: dict, outcome: str) -> None:
        seen.append((reminder["id"], len(bot.sent)))

    with store.rolled_back():
        last_event = store.last_audit_id()
        started = len(bot.sent)
        outcome = await dispatcher.run_once(bot, now, observe)  # type: ignore[arg-type]
        rows = {row["id"]: row for row in store.reminders_by_ids([rid for rid, _ in seen])}
        result = DryRun(now, outcome, events=store.audit_since(last_event))
        for rid, sent_until in seen:
            result.reminders.append((rows[rid], bot.sent[started:sent_until]))
            started = sent_until
    return result
