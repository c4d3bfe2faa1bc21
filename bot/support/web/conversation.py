"""One conversation: its transcript, the borrower's answers, options shown, plans and
reminders, support notes; adding a note; revealing personal data with a reason (audited).

Personal data is masked on this page; ``POST /conversations/<chat>/reveal`` with a typed reason
shows it unmasked in that one response (never a URL one could bookmark or share) and writes the
audit event ``pii_revealed`` (agent, chat, reason).
"""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.errors import StoreError
from bot.support.masking import mask_name, mask_phone, mask_text
from bot.support.transcripts import build_transcript
from bot.support.web.console import agent_of, chat_id_param, checked_form, console_of
from bot.support.web.handoff import handoff_view
from dialogs.state import answers_summary
from dialogs.views import stored_pause_view, with_pauses
from plans.models import split_option_id

MAX_NOTE = 4000
MAX_REASON = 500


def clean_reason(text: str) -> str:
    """A typed reason without invisible characters (zero-width spaces, direction marks) and with
    its spaces collapsed: what is checked and what the audit log keeps."""
    return " ".join("".join(ch for ch in text if unicodedata.category(ch) != "Cf").split())


def reason_has_words(text: str) -> bool:
    """At least two words: runs of two or more letters, where two CJK characters count as one
    word (Chinese is written without spaces). Punctuation, digits, symbols, emoji and invisible
    characters are no words, however many."""
    words, run = 0, ""
    for ch in clean_reason(text) + " ":
        if unicodedata.category(ch).startswith("L"):
            run += ch
            continue
        if len(run) >= 2:
            words += len(run) // 2 if unicodedata.east_asian_width(run[0]) in "WF" else 1
        run = ""
    return words >= 2


def _options(data: dict) -> list[dict[str, Any]]:
    """The options shown (ids like ``step_up-13``: structure and number of payments)."""
    chosen = data.get("chosen")
    shown = []
    for option_id in data.get("options") or []:
        parts = split_option_id(option_id)
        structure, term = (parts[0].value, str(parts[1])) if parts else (str(option_id), "")
        shown.append({"id": option_id, "structure": structure, "term": term, "chosen": option_id == chosen})
    return shown


def conversation_page(
    request: Request,
    chat_id: int,
    *,
    reveal: bool = False,
    problem: str | None = None,
    reason: str = "",
    reply_text: str = "",
    status_code: int = 200,
) -> Response:
    console = console_of(request)
    store, tz = console.store, console.tz
    conversation = store.support_conversation(chat_id)
    entries = build_transcript(store, tz, chat_id=chat_id, reveal=reveal)
    if conversation is None and not entries:
        raise HTTPException(404)
    conversation = conversation or {
        "chat_id": chat_id,
        "borrower_id": None,
        "loan_id": None,
        "step": "-",
        "data": {},
        "needs_person": False,
        "name": None,
        "phone": None,
        "id_last4": None,
        "currency": None,
        "updated_at": None,
        "locale": None,
    }
    names = [conversation["name"]] + store.borrower_names_of_chats([chat_id])

    def clean(text: str | None) -> str:
        return (text or "") if reveal else mask_text(text, names)

    currency = conversation["currency"] or "CNY"
    finances = answers_summary(conversation["data"], currency)
    finances["reason_text"] = clean(finances["reason_text"]) or None
    plans = []
    for plan in store.plans_for_support(borrower_id=conversation["borrower_id"], loan_id=conversation["loan_id"]):
        pauses = [stored_pause_view(p) for p in store.plan_pauses(plan["id"])]
        plans.append(
            {
                **plan,
                "installments": with_pauses(store.installments_for_support(plan["id"]), pauses, key="due_date"),
                "reminders": [
                    {
                        **r,
                        "send_at": r["send_at"].astimezone(tz),
                        "sent_at": r["sent_at"].astimezone(tz) if r["sent_at"] else None,
                    }
                    for r in store.reminders_for_support(plan["id"])
                ],
                "accepted_at": plan["accepted_at"].astimezone(tz),
            }
        )
    notes = [
        {**note, "text": clean(note["text"]), "at": note["at"].astimezone(tz)} for note in store.support_notes(chat_id)
    ]
    person = {
        "name": (conversation["name"] or "") if reveal else mask_name(conversation["name"]),
        "phone": (conversation["phone"] or "") if reveal else mask_phone(conversation["phone"]),
        "id_last4": conversation["id_last4"],
    }
    updated = conversation["updated_at"].astimezone(tz) if conversation["updated_at"] else None
    return console.render(
        request,
        "conversation.html",
        status_code,
        conversation=conversation,
        person=person,
        updated=updated,
        entries=entries,
        finances=finances,
        options=_options(conversation["data"]),
        plans=plans,
        notes=notes,
        reveal=reveal,
        problem=problem,
        reason=reason,
        csrf=agent_of(request).csrf,
        max_note=MAX_NOTE,
        handoff=handoff_view(console, request, chat_id, names),
        reply_text=reply_text,
        page_path=f"/conversations/{chat_id}",  # language links after a POST go back to the page
    )


async def conversation(request: Request) -> Response:
    return conversation_page(request, chat_id_param(request))


async def add_note(request: Request) -> Response:
    console = console_of(request)
    chat_id = chat_id_param(request)
    form = await checked_form(request)
    text = str(form.get("text", "")).strip()
    if not text or len(text) > MAX_NOTE:
        return conversation_page(request, chat_id, problem="support.notes.bad_text", status_code=400)
    store = console.store
    if store.support_conversation(chat_id) is None and not store.chat_messages([chat_id]):
        raise HTTPException(404)
    try:
        store.add_support_note(chat_id, agent_of(request).id, text, console.clock())
    except StoreError:
        return conversation_page(request, chat_id, problem="support.notes.bad_text", status_code=400)
    return RedirectResponse(f"/conversations/{chat_id}#notes", status_code=303)


async def reveal(request: Request) -> Response:
    console = console_of(request)
    chat_id = chat_id_param(request)
    form = await checked_form(request)
    reason = clean_reason(str(form.get("reason", "")))
    if not reason_has_words(reason) or len(reason) > MAX_REASON:
        return conversation_page(request, chat_id, problem="support.reveal.need_reason", reason=reason, status_code=400)
    store = console.store
    found = store.support_conversation(chat_id)
    if found is None and not store.chat_messages([chat_id]):
        raise HTTPException(404)
    agent = agent_of(request)
    store.audit(
        "pii_revealed",
        at=console.clock(),
        chat_id=chat_id,
        borrower_id=found["borrower_id"] if found else None,
        loan_id=found["loan_id"] if found else None,
        agent=agent.name,
        agent_id=agent.id,
        reason=reason,
    )
    return conversation_page(request, chat_id, reveal=True)


async def transcript_json(request: Request) -> Response:
    console = console_of(request)
    entries = build_transcript(console.store, console.tz, chat_id=chat_id_param(request))
    return Response(
        json.dumps([entry.as_dict() for entry in entries], ensure_ascii=False), media_type="application/json"
    )
