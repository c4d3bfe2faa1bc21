"""The support group's side of a hand-off, on Telegram.

In the group BOT_SUPPORT_CHAT_ID an agent replies to a ticket's card (or to a borrower's
message relayed under it, or to a console agent's reply posted there): the reply goes to the
borrower, in the transcript. `/close` in reply ends the ticket and the borrower's dialogue
resumes at the step they left. Both go through the support outbox (`bot.tg.support_outbox`),
done at once, so the web console shows them like its own agents' actions. Messages in the
support group never reach the borrower dialogue; replies in any other chat are not relayed.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.store import found
from bot.store.statuses import OutboxKind, OutboxStatus
from bot.store.tickets import HandoffClosed
from bot.tg.support_outbox import add_outbox_job, perform
from bot.turn import Conversations

log = logging.getLogger(__name__)
SUPPORT_GROUP = -2  # runs before the admin (-1) and borrower (0) handlers


async def on_support_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    conversations: Conversations = context.application.bot_data["conversations"]
    message, agent = update.effective_message, update.effective_user
    translator, team_locale = conversations.translator, conversations.default_locale
    try:
        if message is None or message.reply_to_message is None or not message.text or agent is None:
            return  # the team talking among themselves
        store, now = conversations.store, conversations.services.now()
        ticket = store.ticket_for_support_message(message.reply_to_message.message_id)
        closing = message.text.split("@")[0].strip() == "/close"
        try:
            if ticket is None:
                raise HandoffClosed("no ticket")
            action = store.queue_support_action(
                ticket["id"],
                kind=OutboxKind.CLOSE if closing else OutboxKind.REPLY,
                text=None if closing else message.text,
                source="telegram",
                agent=agent.full_name,
                agent_id=agent.id,
                at=now,
                claimed=True,
            )
        except HandoffClosed:
            await message.reply_text(translator.render(team_locale, "handoff.no_ticket"), parse_mode=ParseMode.HTML)
            return
        status = await perform(context.bot, conversations, action)
        if closing and status == OutboxStatus.DONE:
            await message.reply_text(translator.render(team_locale, "handoff.closed_ack"), parse_mode=ParseMode.HTML)
        elif status == OutboxStatus.FAILED:
            error = found(store.support_action(action["id"]), f"support action {action['id']}")["error"]
            await context.bot.send_message(
                message.chat_id,
                translator.render(team_locale, "handoff.not_delivered", ticket_id=ticket["id"], error=error),
                parse_mode=ParseMode.HTML,
            )
    except Exception:  # logged here: the stop below would otherwise hide it
        log.exception("support message %s could not be handled", message.message_id if message else None)
    finally:
        raise ApplicationHandlerStop  # the support group is never a borrower's chat


def add_support_handlers(application: Application, support_chat_id: int | None) -> None:
    """The support group's handler (when there is a group) and the support outbox's job (always:
    the web console needs it with or without a group)."""
    if support_chat_id is not None:
        application.add_handler(MessageHandler(filters.Chat(support_chat_id), on_support_message), group=SUPPORT_GROUP)
    add_outbox_job(application)
