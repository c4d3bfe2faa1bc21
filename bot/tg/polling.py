"""Long polling that confirms an update to Telegram only after it was handled.

PTB's own Updater fetches the next batch (which confirms the previous one) while the last is
still being processed, so a crash loses what was fetched but not yet handled. Here an
update's offset advances only after it was handled (`bot.tg.intake`): its turn committed to
SQLite and its replies sent, or, if the bot cannot handle it, kept as a dead letter. After a
crash Telegram redelivers the unconfirmed updates, the store recognises those already
handled, and only their undelivered replies go out again (`bot.turn.Conversations.handle`).
An update whose turn the database would not let commit is not confirmed: the batch stops
there and is fetched again after a pause.

The batch is fetched as raw JSON and parsed one update at a time: PTB's `get_updates` parses
the whole batch at once, so one malformed update would make every update in it unreadable,
and the bot would fetch the same batch and fail on it forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import warnings

from telegram import Bot, Update
from telegram.error import NetworkError, RetryAfter, TelegramError
from telegram.ext import Application
from telegram.warnings import PTBUserWarning

from bot.store.inbox import update_id_of
from bot.tg.intake import handle_raw
from bot.tg.send import retry_after

log = logging.getLogger(__name__)
POLL_TIMEOUT = 25  # seconds Telegram holds an empty getUpdates open
READ_MARGIN = 10  # seconds on top of POLL_TIMEOUT before an unanswered getUpdates counts as failed
MAX_BACKOFF = 30.0
HELD_PAUSE = 2.0  # seconds before fetching again an update whose turn could not commit


async def poll(application: Application, stop: asyncio.Event) -> None:
    """Fetch, handle and confirm updates one by one until `stop` is set."""
    offset: int | None = None
    backoff = 1.0
    while not stop.is_set():
        fetch = asyncio.ensure_future(_fetch(application.bot, offset))
        stopping = asyncio.ensure_future(stop.wait())
        done, _ = await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if stopping in done:
            fetch.cancel()
            break
        stopping.cancel()
        try:
            updates = fetch.result()
        except RetryAfter as error:
            await asyncio.sleep(retry_after(error).total_seconds())
            continue
        except (NetworkError, TelegramError) as error:
            log.warning("getUpdates failed (%s); retrying in %.0f s", error, backoff)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)
            continue
        backoff = 1.0
        for raw in updates:
            outcome = await handle_raw(application, raw, "polling")
            if not outcome.confirmed:
                log.warning("update %s not committed; fetching it again in %.0f s", update_id_of(raw), HELD_PAUSE)
                await _pause(stop, HELD_PAUSE)
                break
            update_id = update_id_of(raw)
            if update_id is not None and (offset is None or update_id >= offset):
                offset = update_id + 1


async def _fetch(bot: Bot, offset: int | None) -> list:
    """The next batch as Telegram's JSON, not yet parsed (see the module's docstring)."""
    with warnings.catch_warnings():  # PTB suggests Bot.get_updates, which parses the batch whole
        warnings.simplefilter("ignore", PTBUserWarning)
        batch = await bot.do_api_request(
            "getUpdates",
            api_kwargs={"offset": offset, "timeout": POLL_TIMEOUT, "allowed_updates": Update.ALL_TYPES},
            read_timeout=POLL_TIMEOUT + READ_MARGIN,
        )
    return batch if isinstance(batch, list) else []


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


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
