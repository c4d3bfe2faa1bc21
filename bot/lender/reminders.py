"""The reminder dispatcher: sends what the outbox (the `reminders` table) says is due.

One `run_once` pass: release reminders a dead process left `sending`, notice missed
instalments (`bot.lender.plan_life.notice_misses`), then for each due reminder: skip it if no longer
relevant (instalment paid, plan ended: `cancelled`), postpone it out of quiet hours, claim it
(pending -> sending), render it in the borrower's language and send it. Outcomes:

    sent       delivered
    pending    RetryAfter (retry after Telegram's delay; the pass stops there) or a network
               error (retried with backoff: 1, 2, 4, 8 minutes), attempts counted
    failed     after MAX_ATTEMPTS network errors, a BadRequest, or an unexpected error (logged)
    blocked    Forbidden: the borrower blocked the bot; they are marked unreachable

Nothing raises out of a pass, and nothing is dropped without a status and a reason. The pass
runs every minute inside `restructure-bot run` (PTB's JobQueue) and on demand as
`restructure-bot reminders send [--as-of]`.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter

from bot.lender.plan_life import next_allowed, notice_misses
from bot.services import plan_view
from bot.tg.send import send_messages
from bot.turn import Conversations, Message
from plans.policy import Policy

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
STALE_SENDING = timedelta(minutes=10)
BATCH = 200


class Dispatcher:
    def __init__(self, conversations: Conversations, policy: Policy, zone: ZoneInfo,
                 clock: Callable[[], datetime]) -> None:
        self.conversations = conversations
        self.store = conversations.store
        self.policy = policy
        self.zone = zone
        self.clock = clock

    async def run_once(self, bot: Bot, now: datetime | None = None) -> Counter:
        """One pass over the outbox; returns how many reminders ended in each state."""
        now = now or self.clock()
        outcome: Counter = Counter()
        self.store.release_stale_reminders(now - STALE_SENDING)
        notice_misses(self.store, self.policy, now, self.zone)
        for reminder in self.store.due_reminders(now, BATCH):
            try:
                status = await self._deliver(bot, reminder, now)
            except RetryAfter as error:
                delay = error.retry_after if isinstance(error.retry_after, timedelta) else timedelta(seconds=error.retry_after)
                self.store.finish_reminder(reminder["id"], "pending", error=str(error), retry_at=now + delay)
                outcome["pending"] += 1
                break  # Telegram asked us to slow down: the rest waits for the next pass
            outcome[status] += 1
        return outcome

    async def _deliver(self, bot: Bot, reminder: dict, now: datetime) -> str:
        borrower = self.store.get_borrower(reminder["borrower_id"])
        zone = ZoneInfo(borrower["timezone"]) if borrower.get("timezone") else self.zone
        reason = self._irrelevant(reminder, borrower)
        if reason:
            status = "blocked" if reason == "blocked" else "cancelled"
            self.store.finish_reminder(reminder["id"], status, error=reason)
            return status
        allowed = next_allowed(now, zone, self.policy.reminders)
        if allowed > now:
            self.store.finish_reminder(reminder["id"], "pending", error="quiet hours", send_at=allowed)
            return "postponed"
        if not self.store.claim_reminder(reminder["id"]):
            return "taken"
        chat_id = borrower["telegram_chat_id"]
        try:
            messages = self._messages(reminder, chat_id)
            await send_messages(bot, self.conversations, chat_id, messages)
        except RetryAfter:
            raise
        except Forbidden as error:
            self.store.finish_reminder(reminder["id"], "blocked", error=str(error))
            self.store.mark_unreachable(borrower["id"], now, str(error))
            return "blocked"
        except BadRequest as error:
            self.store.finish_reminder(reminder["id"], "failed", error=str(error))
            log.warning("reminder %s refused by Telegram: %s", reminder["id"], error)
            return "failed"
        except NetworkError as error:
            if reminder["attempts"] + 1 >= MAX_ATTEMPTS:
                self.store.finish_reminder(reminder["id"], "failed", error=f"network: {error}")
                return "failed"
            backoff = timedelta(minutes=2 ** reminder["attempts"])
            self.store.finish_reminder(reminder["id"], "pending", error=f"network: {error}", retry_at=now + backoff)
            return "pending"
        except Exception as error:  # never let one reminder stop the others
            log.exception("reminder %s could not be sent", reminder["id"])
            self.store.finish_reminder(reminder["id"], "failed", error=f"{type(error).__name__}: {error}")
            return "failed"
        self.store.finish_reminder(reminder["id"], "sent")
        return "sent"

    def _irrelevant(self, reminder: dict, borrower: dict) -> str | None:
        """Why this reminder should not go out any more, if it should not."""
        if borrower.get("unreachable_at"):
            return "blocked"
        if not borrower.get("telegram_chat_id"):
            return "borrower has no Telegram chat"
        plan = self.store.plan(reminder["plan_id"])
        kind = reminder["kind"]
        if kind.startswith(("thanks:", "broken")):
            return None
        if plan["status"] != "active":
            return f"plan {plan['status']}"
        row = next(r for r in self.store.plan_installments(plan["id"]) if r["number"] == reminder["installment_number"])
        if row["status"] == "paid":
            return "already paid"
        if kind == "checkin" and row["status"] != "missed":
            return "no longer missed"
        return None

    def _messages(self, reminder: dict, chat_id: int) -> list[Message]:
        kind, number = reminder["kind"], reminder["installment_number"]
        if kind == "checkin":
            return self.conversations.push(chat_id, lambda dialogue, state: dialogue.checkin(state, reminder["plan_id"], number))
        plan = self.store.plan(reminder["plan_id"])
        instalments = self.store.plan_installments(plan["id"])
        view = plan_view(plan, instalments, self.clock().astimezone(self.zone).date())
        instalment = next(i for i in view["instalments"] if i["number"] == number)
        name, _, days = kind.partition(":")
        key = "reminder.due_today" if kind == "before:0" else f"reminder.{name}"
        locale = self.conversations.locale_for(chat_id, None)
        text = self.conversations.translator.render(locale, key, plan=view, instalment=instalment,
                                                    days=int(days) if days.isdigit() else 0)
        self.store.log_message(direction="out", chat_id=chat_id, text=text, at=self.clock(),
                               step=f"reminder:{kind}", borrower_id=plan["borrower_id"])
        return [Message(text)]
