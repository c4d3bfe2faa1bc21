"""Doing what support agents did to a hand-off: the support outbox, delivered by the bot.

An agent replies to a borrower, or closes the hand-off, in the web console (a separate process
that writes the action to the `support_outbox` table) or in the support group (`bot.tg.support`,
which writes it too and does it at once). Here, inside `restructure-bot run`, the bot does
each action with its own `Bot` - so through the same rate limiter as every other message:

* a reply: the agent's words go to the borrower in pieces that fit Telegram (``handoff.agent_says``
  in the borrower's language), each logged in the transcript as it goes out; a reply from the
  console is also posted in the support group, under the ticket's card, so the team sees it;
* a close: the ticket is closed and the borrower's dialogue resumes at the step they left
  (exactly what ``/close`` in the group does); a close from the console is announced in the
  group the same way.

Actions are done in order per chat (a close never overtakes the reply before it). Outcomes,
shown to the agent in the console:

    done       delivered (a close: closed, and the borrower told - or, noted in `error`, not
               told because Telegram refused; the close itself stands)
    pending    RetryAfter (after Telegram's delay; the pass stops there: "slowed") or a network
               error (retried after 5 s, 10 s, 20 s, 40 s), attempts counted
    failed     the hand-off was already closed; the borrower blocked the bot (marked
               unreachable); Telegram refused the message; MAX_ATTEMPTS network errors; anything
               unexpected (logged)

`run_outbox` makes one pass; `add_outbox_job` runs it every OUTBOX_INTERVAL seconds in PTB's
JobQueue. Nothing raises out of a pass.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import timedelta

from telegram import Bot, LinkPreviewOptions, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.ext import Application, ContextTypes

from bot.store import Row, found
from bot.store.statuses import OutboxKind, OutboxStatus
from bot.support.masking import mask_text
from bot.tg.send import retry_after, send_messages
from bot.turn import Conversations
from dialogs.person import pieces

log = logging.getLogger(__name__)
OUTBOX_INTERVAL = 2  # seconds between passes: a console reply reaches the borrower within a few seconds
STALE_SENDING = timedelta(minutes=5)
MAX_ATTEMPTS = 5
FIRST_RETRY = timedelta(seconds=5)
BATCH = 50
CLOSED = "closed"  # the error of an action on a hand-off that was closed meanwhile
SLOWED = "slowed"  # pending again because Telegram asked the bot to slow down


async def run_outbox(bot: Bot, conversations: Conversations) -> Counter:
    """One pass over the due actions; how many ended in each state."""
    store, now = conversations.store, conversations.services.now()
    outcome: Counter = Counter()
    store.release_stale_support_actions(now - STALE_SENDING)
    while sum(outcome.values()) < BATCH:
        # asked again after each round: a chat's next action is due once the one before is finished
        due = store.due_support_actions(now, BATCH - sum(outcome.values()))
        if not due:
            break
        for action in due:
            if not store.claim_support_action(action["id"], now):
                continue  # another pass took it
            status = await perform(bot, conversations, action)
            outcome[status] += 1
            if status == SLOWED:
                return outcome  # the rest waits for the next pass
    return outcome


async def perform(bot: Bot, conversations: Conversations, action: dict) -> str:
    """Do one claimed action; record and return how it ended (see the module docstring)."""
    store = conversations.store
    now = conversations.services.now()
    ticket: Row | None = None
    note: str | None = None
    error: str | None
    try:
        ticket = found(store.ticket(action["ticket_id"]), f"ticket {action['ticket_id']}")
        if action["kind"] == OutboxKind.REPLY:
            await _reply(bot, conversations, action, ticket)
        else:
            note = await _close(bot, conversations, action, ticket)
    except _Refused as refused:
        status, error = OutboxStatus.FAILED, refused.reason
    except RetryAfter as exc:
        store.finish_support_action(
            action["id"], OutboxStatus.PENDING, at=now, error=f"RetryAfter: {exc}", retry_at=now + retry_after(exc)
        )
        return SLOWED
    except Forbidden as exc:
        status, error = OutboxStatus.FAILED, f"blocked: {exc}"
        if ticket and ticket["borrower_id"] is not None:
            store.mark_unreachable(ticket["borrower_id"], now, str(exc))
    except BadRequest as exc:
        status, error = OutboxStatus.FAILED, f"refused: {exc}"
    except NetworkError as exc:
        if action["attempts"] + 1 < MAX_ATTEMPTS:
            store.finish_support_action(
                action["id"],
                OutboxStatus.PENDING,
                at=now,
                error=f"network: {exc}",
                retry_at=now + FIRST_RETRY * 2 ** action["attempts"],
            )
            return OutboxStatus.PENDING
        status, error = OutboxStatus.FAILED, f"network: {exc}"
    except Exception as exc:  # never let one action stop the others
        log.exception("support action %s could not be done", action["id"])
        status, error = OutboxStatus.FAILED, f"{type(exc).__name__}: {exc}"
    else:
        status, error = OutboxStatus.DONE, note
    store.finish_support_action(action["id"], status, at=conversations.services.now(), error=error)
    if status == OutboxStatus.FAILED:
        log.warning(
            "support action %s (%s) for chat %s failed: %s", action["id"], action["kind"], action["chat_id"], error
        )
    return status


class _Refused(Exception):
    """The action cannot be done, for a reason that will not change by trying again."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def _reply(bot: Bot, conversations: Conversations, action: dict, ticket: dict) -> None:
    if ticket["closed_at"] is not None:
        raise _Refused(CLOSED)
    store, chat_id = conversations.store, ticket["chat_id"]
    locale = conversations.locale_for(chat_id, None)
    for number, piece in enumerate(pieces(action["text"])):
        if number < action["pieces_sent"]:
            continue  # delivered before the error this attempt retries
        text = conversations.translator.render(locale, "handoff.agent_says", text=piece)
        await bot.send_message(chat_id, text, parse_mode=ParseMode.HTML)
        now = conversations.services.now()
        with store.transaction():  # only what went out is in the transcript, with who wrote it
            logged = store.log_reply(
                chat_id=chat_id,
                text=text,
                at=now,
                step="with_person",
                borrower_id=ticket["borrower_id"],
                buttons=None,
                in_reply_to=None,
                meta={"agent": action["agent"], "source": action["source"]},
            )
            store.mark_sent(logged, now)
            store.support_action_piece_sent(action["id"])
            store.audit(
                "agent_replied",
                at=now,
                chat_id=chat_id,
                ticket_id=ticket["id"],
                agent=action["agent"],
                source=action["source"],
            )
    if action["source"] == "console":
        names = store.borrower_names_of_chats([chat_id])
        await _tell_team(
            bot,
            conversations,
            ticket,
            "support.group.console_reply",
            agent=action["agent"],
            text=mask_text(action["text"], names)[:3000],
        )


async def _close(bot: Bot, conversations: Conversations, action: dict, ticket: dict) -> str | None:
    """Close the ticket and resume the dialogue; a note if the borrower could not be told."""
    if ticket["closed_at"] is not None:
        raise _Refused(CLOSED)
    store, chat_id = conversations.store, ticket["chat_id"]
    with store.transaction():
        store.close_ticket(
            ticket["id"],
            by=action["agent_id"] if action["source"] == "telegram" else None,
            at=conversations.services.now(),
            agent=action["agent"],
            source=action["source"],
        )
        resumed = conversations.push(chat_id, lambda dialogue, state: dialogue.back_from_person(state))
    note = None
    try:
        await send_messages(bot, conversations, chat_id, resumed)
    except TelegramError as error:  # closed all the same: the next message from the borrower continues
        log.warning("ticket %s closed, but chat %s was not told: %s", ticket["id"], chat_id, error)
        note = f"not told: {error}"
    if action["source"] == "console":
        await _tell_team(bot, conversations, ticket, "support.group.console_closed", agent=action["agent"])
    return note


async def _tell_team(bot: Bot, conversations: Conversations, ticket: dict, key: str, **data: str) -> None:
    """Post in the support group under the ticket's card, so the team sees what the console did
    (and a reply to this message reaches the ticket too). A convenience: failures are logged."""
    if conversations.support_chat_id is None:
        return
    text = conversations.translator.render(conversations.default_locale, key, ticket_id=ticket["id"], **data)
    thread = (
        ReplyParameters(ticket["card_message_id"], allow_sending_without_reply=True)
        if ticket["card_message_id"]
        else None
    )
    try:
        sent = await bot.send_message(
            conversations.support_chat_id,
            text,
            parse_mode=ParseMode.HTML,
            reply_parameters=thread,
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
    except TelegramError as error:
        log.warning("could not tell the support group about ticket %s: %s", ticket["id"], error)
        return
    conversations.store.record_relayed(ticket["id"], sent.message_id, conversations.services.now())


async def _outbox_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await run_outbox(context.bot, context.application.bot_data["conversations"])


def add_outbox_job(application: Application) -> None:
    """Deliver the support outbox every OUTBOX_INTERVAL seconds while the application runs."""
    if application.job_queue is not None:
        application.job_queue.run_repeating(
            _outbox_job, interval=OUTBOX_INTERVAL, first=OUTBOX_INTERVAL, name="support outbox"
        )
