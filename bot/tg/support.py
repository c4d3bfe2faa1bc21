"""The support group's side of a hand-off, on Telegram.

In the group BOT_SUPPORT_CHAT_ID an agent replies to a ticket's card (or to a borrower's
message relayed under it): the reply goes to the borrower, in the transcript. `/close` in
reply ends the ticket and the borrower's dialogue resumes at the step they left. Messages in
the support group never reach the borrower dialogue; replies in any other chat are not relayed.
"""
from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.tg.send import send_messages
from bot.turn import Conversations
from dialogs.machine import pieces

log = logging.getLogger(__name__)
SUPPORT_GROUP = -2  # runs before the admin (-1) and borrower (0) handlers


async def on_support_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    conversations: Conversations = context.application.bot_data["conversations"]
    message, agent = update.effective_message, update.effective_user
    try:
        if message is None or message.reply_to_message is None or not message.text or agent is None:
            return  # the team talking among themselves
        store, now = conversations.store, conversations.services.now()
        ticket = store.ticket_for_support_message(message.reply_to_message.message_id)
        if ticket is None or ticket["closed_at"] is not None:
            await message.reply_text(conversations.translator.render(conversations.default_locale, "handoff.no_ticket"))
            return
        if message.text.split("@")[0].strip() == "/close":
            store.close_ticket(ticket["id"], by=agent.id, at=now)
            resumed = conversations.push(ticket["chat_id"], lambda dialogue, state: dialogue.back_from_person(state))
            await send_messages(context.bot, conversations, ticket["chat_id"], resumed)
            await message.reply_text(conversations.translator.render(conversations.default_locale, "handoff.closed_ack"))
            return
        await _relay_to_borrower(context, conversations, ticket, message.text, agent.id)
    except Exception:  # logged here: the stop below would otherwise hide it
        log.exception("support message %s could not be handled", message.message_id if message else None)
    finally:
        raise ApplicationHandlerStop  # the support group is never a borrower's chat


async def _relay_to_borrower(context: ContextTypes.DEFAULT_TYPE, conversations: Conversations, ticket: dict,
                             text: str, agent_id: int) -> None:
    """Send the agent's words in pieces that fit Telegram; record (and audit) only what went
    out, and tell the team when something did not."""
    store, locale = conversations.store, conversations.locale_for(ticket["chat_id"], None)
    for piece in pieces(text):
        reply = conversations.translator.render(locale, "handoff.agent_says", text=piece)
        try:
            await context.bot.send_message(ticket["chat_id"], reply, parse_mode=ParseMode.HTML)
        except TelegramError as error:
            log.warning("agent reply to chat %s not delivered: %s", ticket["chat_id"], error)
            await context.bot.send_message(conversations.support_chat_id, conversations.translator.render(
                conversations.default_locale, "handoff.not_delivered", ticket_id=ticket["id"], error=str(error)))
            return
        now = conversations.services.now()
        store.log_message(direction="out", chat_id=ticket["chat_id"], text=reply, at=now, step="with_person",
                          borrower_id=ticket["borrower_id"])
        store.audit("agent_replied", at=now, chat_id=ticket["chat_id"], ticket_id=ticket["id"], agent=agent_id)


def add_support_handlers(application: Application, support_chat_id: int | None) -> None:
    if support_chat_id is not None:
        application.add_handler(MessageHandler(filters.Chat(support_chat_id), on_support_message),
                                group=SUPPORT_GROUP)
