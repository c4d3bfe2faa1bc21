"""Long polling that confirms an update to Telegram only after it was handled.

PTB's own Updater fetches the next batch (which confirms the previous one) while the last is
still being processed, so a crash loses what was fetched but not yet handled. Here an
update's offset advances only after `process_update` returned, and each turn is committed to
SQLite before its replies are sent; after a crash Telegram redelivers the unconfirmed
updates, the store recognises those already handled, and only their undelivered replies go
out again (`bot.turn.Conversations.handle`).
"""
from __future__ import annotations

import asyncio
import logging

from telegram import Update
from telegram.error import NetworkError, RetryAfter, TelegramError
from telegram.ext import Application

log = logging.getLogger(__name__)
POLL_TIMEOUT = 25  # seconds Telegram holds an empty getUpdates open
MAX_BACKOFF = 30.0


async def poll(application: Application, stop: asyncio.Event) -> None:
    """Fetch, handle and confirm updates one by one until `stop` is set."""
    offset: int | None = None
    backoff = 1.0
    while not stop.is_set():
        fetch = asyncio.ensure_future(application.bot.get_updates(
            offset=offset, timeout=POLL_TIMEOUT, allowed_updates=Update.ALL_TYPES))
        stopping = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stopping in done:
            fetch.cancel()
            break
        stopping.cancel()
        try:
            updates = fetch.result()
        except RetryAfter as error:
            await asyncio.sleep(_seconds(error.retry_after))
            continue
        except (NetworkError, TelegramError) as error:
            log.warning("getUpdates failed (%s); retrying in %.0f s", error, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            continue
        backoff = 1.0
        for update in updates:
            await application.process_update(update)
            offset = update.update_id + 1


def _seconds(value: object) -> float:
    return value.total_seconds() if hasattr(value, "total_seconds") else float(value)


async def run_polling(application: Application) -> None:
    """Initialise, start (JobQueue included), poll until SIGINT/SIGTERM, and shut down."""
    import signal

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with application:
        if application.post_init:
            await application.post_init(application)
        await application.bot.delete_webhook(drop_pending_updates=False)
        await application.start()
        try:
            await poll(application, stop)
        finally:
            await application.stop()
