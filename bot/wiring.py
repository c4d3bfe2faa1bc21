"""Wiring shared by the CLI and `run`: settings in, ready-to-use services out."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import telegram
from telegram.error import InvalidToken, TelegramError

from bot.config import Settings, load_settings
from bot.errors import BotError, ConfigError, StoreError
from bot.store import Store

if TYPE_CHECKING:
    from bot.lender.reminders import Dispatcher
    from bot.turn import Conversations


def open_store(settings: Settings | None = None) -> Store:
    """The store at BOT_DATABASE, migrated; a file that cannot be opened is one StoreError."""
    settings = settings or load_settings()
    try:
        return Store(settings.database)
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"BOT_DATABASE {settings.database}: {exc}") from None


def make_bot(settings: Settings) -> telegram.Bot:
    """A Bot for BOT_TOKEN at BOT_API_URL (a local Bot API server, or a stub in tests)."""
    return telegram.Bot(settings.require_token(), base_url=settings.api_url, base_file_url=settings.api_file_url)


async def bot_username(settings: Settings) -> str:
    """The bot's @username, from getMe: deep links must name it."""
    try:
        async with make_bot(settings) as bot:  # initialize() calls getMe
            return bot.username
    except InvalidToken:
        raise ConfigError("BOT_TOKEN: Telegram does not accept this token") from None
    except TelegramError as exc:
        raise BotError(f"cannot ask Telegram for the bot's username at {settings.api_url}: {exc}") from None


def make_conversations(settings: Settings, store: Store | None = None, *, binds_accounts: bool = True) -> Conversations:
    """The conversation runner over BOT_DATABASE (or `store`), with BOT_POLICY and the locales;
    `binds_accounts=False` for the terminal, which must never link a borrower to an account."""
    from bot.i18n import Translator
    from bot.store.codec import utc_now
    from bot.turn import Conversations

    return Conversations(
        store or open_store(settings),
        settings.load_policy(),
        Translator(),
        utc_now,
        settings.default_locale,
        settings.tz,
        settings.support_window,
        settings.support_chat_id,
        binds_accounts=binds_accounts,
    )


def make_dispatcher(settings: Settings, conversations: Conversations) -> Dispatcher:
    from bot.lender.reminders import Dispatcher
    from bot.store.codec import utc_now

    return Dispatcher(conversations, settings.load_policy(), settings.tz, utc_now)
