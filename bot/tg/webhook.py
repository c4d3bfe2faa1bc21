"""Webhook mode with the guarantee polling gives: Telegram hears 200 for an update only once
the update is stored in SQLite (the inbox, committed), and it leaves the inbox only once it was
handled (`bot.tg.intake`: turn committed and replies sent, or kept as a dead letter).

    Telegram ─POST─► secret token? ─► body ≤ 1 MiB? ─► JSON? ─► inbox (committed) ─► 200
                       403              413              └► no: dead letter ─────────► 200
    worker: the first update in the inbox ─► handled or dead letter ─► removed from the inbox
                                          └► turn not committed (database busy) ─► stays; tried again

PTB's `run_webhook` answers 200 as soon as an update is queued in memory, and Telegram does not
send an update again once it had its 200, so a crash lost every update queued but not yet
handled. Here a crash at any moment loses nothing: what got a 200 is in the inbox, and the next
start handles it (after a crash, an update handled but not yet removed is handled again: the
turn recognises it and only re-sends replies not yet delivered, as after a crash in polling).
The secret token is compared in constant time; a body over 1 MiB is refused by its declared
length before any of it is read, or as soon as more than that arrived.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import signal
import sqlite3
from collections.abc import Iterator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from bot.store import Store
from bot.store.codec import utc_now
from bot.tg.intake import handle_raw, is_transient

log = logging.getLogger(__name__)
MAX_BODY = 1 << 20  # bytes; Telegram's updates are a few kB
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
HELD_PAUSE = 2.0  # seconds before trying again an update whose turn could not commit


async def _capped_body(request: Request) -> bytes | None:
    """The request's body, or None when it is (or declares to be) over MAX_BODY."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def webhook_app(store: Store, secret_token: str, path: str, arrived: asyncio.Event) -> Starlette:
    """The HTTP endpoint Telegram posts updates to; `arrived` is set for each one stored."""
    expected = secret_token.encode("utf-8")

    async def receive(request: Request) -> Response:
        given = request.headers.get(SECRET_HEADER, "").encode("latin-1")
        if not hmac.compare_digest(given, expected):
            return Response("wrong secret token", status_code=403)
        body = await _capped_body(request)
        if body is None:
            return Response(f"body over {MAX_BODY} bytes", status_code=413)
        text, problem = _json_text(body)
        if problem:  # from Telegram (the token matched) yet unreadable: keep it, and do not have it sent again
            log.error("a webhook body that is not JSON (%s) kept as a dead letter", problem)
            return _store(lambda: store.record_dead_letter(text, f"not JSON: {problem}", "webhook", utc_now()))
        response = _store(lambda: store.add_to_inbox(text, utc_now()))
        arrived.set()
        return response

    return Starlette(routes=[Route("/" + path, receive, methods=["POST"])])


def _json_text(body: bytes) -> tuple[str, str | None]:
    """The body as text, and what is wrong with it as JSON (None: nothing)."""
    try:
        text = body.decode("utf-8")
        json.loads(text)
    except ValueError as error:
        return body.decode("utf-8", "replace"), str(error)
    return text, None


def _store(write: Any) -> Response:
    """200 once `write()` committed; 503 (Telegram sends the update again) when it could not."""
    try:
        write()
    except sqlite3.Error as error:
        log.warning("could not store an incoming update (%s); Telegram will send it again", error)
        return Response("database busy" if is_transient(error) else "database error", status_code=503)
    return Response(status_code=200)


async def drain_inbox(application: Application, arrived: asyncio.Event, stop: asyncio.Event) -> None:
    """Handle the inbox's updates in Telegram's order until `stop` is set; wait for `arrived`
    when it is empty. Run from start-up, it first handles what a crash left behind."""
    store: Store = application.bot_data["conversations"].store
    while not stop.is_set():
        arrived.clear()
        row = store.next_in_inbox()
        if row is None:
            await _first(arrived.wait(), stop.wait())
            continue
        outcome = await handle_raw(application, _decoded(row["raw"]), "webhook")
        if not outcome.confirmed:
            log.warning("update %s not committed; trying again in %.0f s", row["update_id"], HELD_PAUSE)
            await _first(asyncio.sleep(HELD_PAUSE), stop.wait())
            continue
        try:
            store.remove_from_inbox(row["id"])
        except sqlite3.OperationalError as error:  # handled again next time round, which the turn recognises
            if not is_transient(error):
                raise
            await _first(asyncio.sleep(HELD_PAUSE), stop.wait())


def _decoded(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # a dead letter, said why by `handle_raw`


async def _first(*waits: Any) -> None:
    """Wait until the first of `waits` finishes; cancel the others."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: `run_webhook` handles SIGINT/SIGTERM, stops the
    server, lets the worker finish the update in hand, and stops the Application."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def run_webhook(
    application: Application, *, listen: str, port: int, webhook_url: str, path: str, secret_token: str
) -> None:
    """Initialise and start the Application (JobQueue included), handle what the inbox holds,
    serve the webhook, tell Telegram its URL, and run until SIGINT/SIGTERM."""
    stop, arrived = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    store: Store = application.bot_data["conversations"].store
    server = _Server(
        uvicorn.Config(
            webhook_app(store, secret_token, path, arrived),
            host=listen,
            port=port,
            lifespan="off",
            access_log=False,
            server_header=False,
            log_level="warning",
        )
    )
    async with application:
        if application.post_init:
            await application.post_init(application)
        await application.start()
        worker = asyncio.ensure_future(drain_inbox(application, arrived, stop))
        serving = asyncio.ensure_future(server.serve())
        try:
            while not server.started and not serving.done():
                await asyncio.sleep(0.05)
            if server.started:
                await application.bot.set_webhook(
                    webhook_url, secret_token=secret_token, allowed_updates=Update.ALL_TYPES, drop_pending_updates=False
                )
            await _first(stop.wait(), asyncio.shield(worker), asyncio.shield(serving))
        finally:
            server.should_exit = True
            await asyncio.wait([serving])
            stop.set()
            await asyncio.wait([worker])
            await application.stop()
        for task in (serving, worker):
            task.result()  # a worker or server that failed makes the process fail
