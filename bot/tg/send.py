"""Sending what the conversation rendered to Telegram: the keyboard each message needs, its
files, and messages for the support team (posted in BOT_SUPPORT_CHAT_ID, threaded under the
ticket's card). Shared by the update handlers, the reminder dispatcher and the support relay;
`retry_after` is how long Telegram asked every sender to wait."""

from __future__ import annotations

import warnings
from datetime import timedelta

from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    KeyboardButton,
    LinkPreviewOptions,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import RetryAfter
from telegram.warnings import PTBDeprecationWarning

from bot.lender.plan_files import make_file
from bot.store import found
from bot.turn import Conversations, Message


def retry_after(error: RetryAfter) -> timedelta:
    """How long Telegram asked the bot to wait. PTB gives seconds as an int (a timedelta with
    PTB_TIMEDELTA set) and warns on each read that the int is deprecated: the wait is the same."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value if isinstance(value, timedelta) else timedelta(seconds=value)


def markup_for(message: Message, after_contact: bool = False):
    if message.request_contact:
        return ReplyKeyboardMarkup(
            [[KeyboardButton(message.request_contact, request_contact=True)]],
            resize_keyboard=True,
            one_time_keyboard=True,
        )
    if message.buttons:
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(label, callback_data=data) for label, data in row] for row in message.buttons]
        )
    return ReplyKeyboardRemove() if after_contact else None


async def send_messages(
    bot: Bot, conversations: Conversations, chat_id: int, messages: list[Message], *, after_contact: bool = False
) -> None:
    """Send rendered messages, with their files (chart, calendar) after the text."""
    for message in messages:
        if message.to_support:
            await send_to_support(bot, conversations, message)
            continue
        await bot.send_message(
            chat_id,
            message.text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup_for(message, after_contact),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        for name in message.attachments:
            assert message.plan_id is not None  # a file is made of a plan
            filename, content = make_file(
                conversations.store,
                name,
                message.plan_id,
                conversations.translator,
                conversations.locale_for(chat_id, None),
            )
            sender = bot.send_photo if filename.endswith(".png") else bot.send_document
            await sender(chat_id, InputFile(content, filename=filename))
        conversations.mark_sent(message)


async def send_to_support(bot: Bot, conversations: Conversations, message: Message) -> None:
    """Post in the support group: a card starts a thread, later messages reply to it."""
    if conversations.support_chat_id is None or message.ticket_id is None:
        return  # no support group configured: the ticket is in the store for the console
    store = conversations.store
    ticket = found(store.ticket(message.ticket_id), f"ticket {message.ticket_id}")
    thread = (
        None
        if message.is_card or not ticket["card_message_id"]
        else ReplyParameters(ticket["card_message_id"], allow_sending_without_reply=True)
    )
    sent = await bot.send_message(
        conversations.support_chat_id,
        message.text,
        parse_mode=ParseMode.HTML,
        reply_parameters=thread,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    if message.is_card:
        store.set_ticket_card(message.ticket_id, sent.message_id)
    else:
        store.record_relayed(message.ticket_id, sent.message_id, conversations.services.now())
