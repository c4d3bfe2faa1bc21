"""The Telegram front end: a python-telegram-bot Application whose handlers turn updates into
dialogue events and send back what the dialogue says.

Flow: update -> `_event` (text, /command, contact, button press or an edited message) ->
`Conversations.handle` (one SQLite transaction, tried again while the database is busy) -> send
each rendered message with parse_mode HTML. Every callback query is answered. The bot talks to
borrowers in private chats only: in a group it answers a command, a button, a shared contact or
a message addressed to it with one line asking to talk privately, and keeps nothing. Anything
that goes wrong is logged once and the borrower is told their answers are saved; a turn that
could not commit is left for Telegram to deliver again, and an update a handler fails on is
kept as a dead letter (`bot.tg.intake`). `build_application` assembles it all; services are
handed in.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Collection
from typing import Any

from telegram import BotCommand, Update
from telegram.constants import ChatType, ParseMode
from telegram.error import Forbidden, RetryAfter, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest

from bot.i18n import LOCALES, resolve_locale
from bot.tg.admin import add_admin_handlers
from bot.tg.intake import Outcome, committed_turn, note_failure
from bot.tg.send import send_messages
from bot.tg.support import add_support_handlers
from bot.turn import Conversations
from dialogs.machine import COMMANDS
from dialogs.model import Event

log = logging.getLogger(__name__)


def _event(update: Update) -> Event | None:
    chat, user = update.effective_chat, update.effective_user
    if chat is None or user is None:
        return None
    common: dict[str, Any] = {
        "chat_id": chat.id,
        "user_id": user.id,
        "update_id": update.update_id,
        "language_code": user.language_code,
    }
    if update.callback_query is not None:
        return Event("button", text=update.callback_query.data or "", **common)
    if update.edited_message is not None:
        return Event("edited", text=update.edited_message.text or "", **common)
    message = update.effective_message
    if message is None:
        return None
    if message.contact is not None:
        return Event(
            "contact", contact_phone=message.contact.phone_number, contact_user_id=message.contact.user_id, **common
        )
    text = message.text or ""
    return Event("command" if text.startswith("/") else "text", text=text, **common)


async def on_update(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    conversations: Conversations = context.application.bot_data["conversations"]
    if update.effective_chat is not None and update.effective_chat.type != ChatType.PRIVATE:
        await _private_only(update, context, conversations)
        return
    event = _event(update)
    if event is None:
        return
    if update.callback_query is not None:
        await _cosmetic(update.callback_query.answer(), "answer the button press")
    messages = await committed_turn(lambda: conversations.handle(event), f"update {update.update_id}")
    await send_messages(context.bot, conversations, event.chat_id, messages, after_contact=event.kind == "contact")


async def _private_only(update: Update, context: ContextTypes.DEFAULT_TYPE, conversations: Conversations) -> None:
    """A group chat: one line asking to talk privately to whoever addressed the bot; nothing
    from the conversation, nothing recorded. Other chatter in the group is not answered."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    if chat is None:
        return  # (the caller saw a group chat)
    if update.callback_query is not None:
        await _cosmetic(update.callback_query.answer(), "answer a button press in a group")
    elif message is None or update.edited_message is not None or not _addressed_to_bot(message, context.bot):
        return
    locale = resolve_locale(None, user.language_code if user else None, conversations.default_locale)
    text = conversations.translator.render(locale, "private_only", bot=context.bot.username or "")
    await _cosmetic(context.bot.send_message(chat.id, text, parse_mode=ParseMode.HTML), "ask to talk privately")


def _addressed_to_bot(message, bot) -> bool:
    text = message.text or ""
    replied = message.reply_to_message
    return (
        text.startswith("/")
        or message.contact is not None
        or (replied is not None and replied.from_user is not None and replied.from_user.id == bot.id)
        or (bool(bot.username) and f"@{bot.username}".lower() in text.lower())
    )


async def _cosmetic(call: Awaitable[object], what: str) -> None:
    """A call the borrower's turn does not depend on: if Telegram refuses it, note it and go on."""
    try:
        await call
    except TelegramError as error:
        log.warning("could not %s: %s", what, error)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log once; tell the borrower their answers are saved, and send again the replies of this
    update that did not go out (the turn itself is committed), so they see where they are."""
    conversations: Conversations = context.application.bot_data["conversations"]
    handled = update if isinstance(update, Update) else None  # None: an error outside an update (a job)
    if (
        handled is not None
        and context.error is not None
        and not isinstance(context.error, TelegramError)
        and note_failure(context.application, handled, context.error) is Outcome.HELD
    ):
        # Nothing of the turn was saved; Telegram delivers the update again and it is answered then.
        log.warning("update %s not handled, the database is busy: %s", handled.update_id, context.error)
        return
    chat = handled.effective_chat if handled is not None else None
    if isinstance(context.error, Forbidden) and handled is not None and chat is not None:
        # The borrower blocked the bot: nothing can reach them, so no apology; mark them.
        log.warning("chat %s has blocked the bot (marked unreachable): %s", chat.id, context.error)
        user = handled.effective_user
        borrower = conversations.store.borrower_by_telegram(user.id) if user else None
        if borrower is not None:
            conversations.store.mark_unreachable(borrower["id"], conversations.services.now(), str(context.error))
        return
    if isinstance(context.error, RetryAfter):  # the rate limiter has already logged its retries
        log.warning("Telegram asked to slow down (%s)", context.error)
    else:
        log.error("error while handling an update", exc_info=context.error)
    if handled is None or chat is None:
        return
    chat_id, user = chat.id, handled.effective_user
    locale = conversations.locale_for(chat_id, user.language_code if user else None)
    try:
        apology = conversations.translator.render(locale, "error.generic")
        await context.bot.send_message(chat_id, apology, parse_mode=ParseMode.HTML)
        await send_messages(context.bot, conversations, chat_id, conversations.unsent_replies(handled.update_id))
    except TelegramError as error:  # Telegram is still refusing: the replies stay recorded as unsent
        log.warning("could not tell chat %s about the error: %s", chat_id, error)


async def set_commands(application: Application) -> None:
    """The command menu in each language (Telegram shows the one matching the user's app).
    A menu is a convenience: if Telegram refuses it, the bot starts anyway."""
    translator = application.bot_data["conversations"].translator
    bot = application.bot
    for locale in LOCALES:
        commands = [BotCommand(name, translator.render(locale, f"cmd.{name}")) for name in COMMANDS]
        await _cosmetic(bot.set_my_commands(commands, language_code=locale.split("_")[0]), f"set the {locale} menu")
    default = application.bot_data["default_locale"]
    await _cosmetic(
        bot.set_my_commands([BotCommand(name, translator.render(default, f"cmd.{name}")) for name in COMMANDS]),
        "set the default menu",
    )


def build_application(
    conversations: Conversations,
    *,
    token: str,
    base_url: str,
    base_file_url: str,
    request: BaseRequest | None = None,
    rate_limit: bool = True,
    admin_ids: Collection[int] = (),
) -> Application:
    builder = ApplicationBuilder().token(token).base_url(base_url).base_file_url(base_file_url)
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    if rate_limit:
        # (PTB types the builder for a rate limiter without arguments; AIORateLimiter's are ints)
        builder = builder.rate_limiter(AIORateLimiter(max_retries=3))  # type: ignore[arg-type]
    application = builder.post_init(set_commands).build()
    application.bot_data["conversations"] = conversations
    application.bot_data["default_locale"] = conversations.default_locale
    application.add_handler(CommandHandler(list(COMMANDS), on_update))
    application.add_handler(MessageHandler(filters.CONTACT | (filters.TEXT & ~filters.COMMAND), on_update))
    application.add_handler(MessageHandler(filters.COMMAND, on_update))
    application.add_handler(CallbackQueryHandler(on_update))
    application.add_error_handler(on_error)
    add_support_handlers(application, conversations.support_chat_id)
    add_admin_handlers(
        application,
        store=conversations.store,
        admin_ids=admin_ids,
        translator=conversations.translator,
        tz=conversations.services.zone,
        default_locale=conversations.default_locale,
    )
    return application
