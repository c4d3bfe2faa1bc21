"""Answering borrowers from the browser: the queue of conversations waiting for a person, the
live view of one, replying, and closing the hand-off.

The console is a separate process from the bot: a reply or a close is written to the support
outbox (`bot.store.tickets`), and `restructure-bot run` delivers it within a few seconds
through the bot's own rate limiter (`bot.tg.support_outbox`); the agent sees it waiting, then
delivered or not (and why). Closing returns the borrower to the assistant at the step they left,
exactly like ``/close`` in the support group, and the support group is told of both.

"Live enough to hold a conversation" without scripts (the Content Security Policy allows none):
the queue page reloads itself every `QUEUE_REFRESH` seconds, and the conversation page holds
the latest messages and the actions' states in a small frame (``/conversations/<chat>/live``)
that reloads itself every `LIVE_REFRESH` seconds, so what the agent is typing is never lost.
Each reload counts as activity: a console left open stays signed in (8 hours at most).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from babel.dates import format_timedelta
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.store import Store
from bot.store.statuses import OutboxKind
from bot.store.tickets import HandoffClosed
from bot.support.masking import mask_name, mask_text
from bot.support.transcripts import build_transcript
from bot.support.web.console import (
    Console,
    agent_of,
    chat_id_param,
    checked_form,
    console_of,
)

MAX_REPLY = 3500  # one Telegram message with the "Our team:" header
LIVE_REFRESH = 3  # seconds
QUEUE_REFRESH = 5
LIVE_MESSAGES = 30


def _waited(console: Console, request: Request, since) -> str:
    return format_timedelta(console.clock() - since, locale=console.locale_of(request.scope), threshold=1.5)


def handoff_view(console: Console, request: Request, chat_id: int, names: Sequence[str | None]) -> dict[str, Any]:
    """The chat's open hand-off (if any) and whether a close of it is on its way, and the
    agents' actions on its hand-offs, masked."""
    store, tz = console.store, console.tz
    ticket = store.open_ticket_for_chat(chat_id)
    actions = []
    for action in store.support_actions(chat_id):
        actions.append(
            {
                **action,
                "text": mask_text(action["text"], names) if action["text"] else None,
                "created_at": action["created_at"].astimezone(tz),
                "done_at": action["done_at"].astimezone(tz) if action["done_at"] else None,
            }
        )
    closing = ticket is not None and store.ticket_closing(ticket["id"])
    if ticket is not None:
        ticket = {
            **ticket,
            "opened_at": ticket["opened_at"].astimezone(tz),
            "waited": _waited(console, request, ticket["opened_at"]),
        }
    return {"ticket": ticket, "actions": actions, "closing": closing, "max_reply": MAX_REPLY, "refresh": LIVE_REFRESH}


async def queue(request: Request) -> Response:
    console = console_of(request)
    rows = [
        {
            **row,
            "name": mask_name(row["name"]),
            "opened_at": row["opened_at"].astimezone(console.tz),
            "waited": _waited(console, request, row["opened_at"]),
            "last_in_at": row["last_in_at"].astimezone(console.tz) if row["last_in_at"] else None,
            "last_reply_at": row["last_reply_at"].astimezone(console.tz) if row["last_reply_at"] else None,
        }
        for row in console.store.waiting_for_person()
    ]
    return console.render(request, "queue.html", rows=rows, refresh=QUEUE_REFRESH)


def _known_chat(store: Store, chat_id: int) -> None:
    if store.support_conversation(chat_id) is None and not store.chat_messages([chat_id]):
        raise HTTPException(404)


async def live(request: Request) -> Response:
    """The frame: the latest messages and what became of the agents' actions."""
    console = console_of(request)
    chat_id = chat_id_param(request)
    store = console.store
    _known_chat(store, chat_id)
    entries = build_transcript(store, console.tz, chat_id=chat_id)[-LIVE_MESSAGES:]
    handoff = handoff_view(console, request, chat_id, store.borrower_names_of_chats([chat_id]))
    return console.render(request, "live.html", entries=list(reversed(entries)), handoff=handoff, chat_id=chat_id)


async def reply(request: Request) -> Response:
    return await _act(request, OutboxKind.REPLY)


async def close(request: Request) -> Response:
    return await _act(request, OutboxKind.CLOSE)


async def _act(request: Request, kind: OutboxKind) -> Response:
    """Queue a reply or a close for the bot to do; back to the conversation."""
    from bot.support.web.conversation import (
        conversation_page,  # (it shows `handoff_view`: no cycle at import)
    )

    console = console_of(request)
    chat_id = chat_id_param(request)
    form = await checked_form(request)
    store = console.store
    _known_chat(store, chat_id)
    text = None
    if kind == OutboxKind.REPLY:
        text = str(form.get("text", "")).strip()
        if not text or len(text) > MAX_REPLY:
            return conversation_page(
                request, chat_id, problem="support.handoff.bad_text", reply_text=text[:MAX_REPLY], status_code=400
            )
    ticket = store.open_ticket_for_chat(chat_id)
    agent = agent_of(request)
    try:
        if ticket is None:
            raise HandoffClosed("no open ticket")
        store.queue_support_action(
            ticket["id"],
            kind=kind,
            text=text,
            source="console",
            agent=agent.name,
            agent_id=agent.id,
            at=console.clock(),
        )
    except HandoffClosed:
        return conversation_page(
            request, chat_id, problem="support.handoff.not_open", reply_text=text or "", status_code=409
        )
    return RedirectResponse(f"/conversations/{chat_id}#handoff", status_code=303)
