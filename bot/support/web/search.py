"""The front page: find a conversation by loan, name, phone digits, step, activity dates or
"needs a person". Results are masked like everything else."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from bot.support.masking import mask_name, mask_phone
from bot.support.transcripts import day_start
from bot.support.web.console import console_of

SEARCH_LIMIT = 200
EARLIEST, LATEST = date(1900, 1, 1), date(2999, 12, 31)  # a day after LATEST still exists


def _parse_day(text: str | None) -> date | None:
    """A YYYY-MM-DD date in a range any search can use; ValueError otherwise."""
    text = (text or "").strip()
    if not text:
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text, flags=re.ASCII):
        raise ValueError(text)
    day = date.fromisoformat(text)
    if not EARLIEST <= day <= LATEST:
        raise ValueError(text)
    return day


async def search(request: Request) -> Response:
    console = console_of(request)
    tz = console.tz
    query = request.query_params
    fields: dict[str, Any] = {
        key: query.get(key, "").strip() for key in ("loan", "name", "phone", "step", "from", "to")
    }
    fields["person"] = query.get("person", "") == "1"
    problems = []
    if fields["phone"] and not re.fullmatch(r"\d{4}", fields["phone"]):
        problems.append("support.search.bad_phone")
    try:
        day_from, day_to = _parse_day(fields["from"]), _parse_day(fields["to"])
    except ValueError:
        day_from = day_to = None
        problems.append("support.search.bad_date")
    rows: list[dict] = []
    if not problems:
        rows = console.store.search_conversations(
            loan_id=fields["loan"] or None,
            name=fields["name"] or None,
            phone_last4=fields["phone"] or None,
            step=fields["step"] or None,
            needs_person=True if fields["person"] else None,
            active_from=day_start(day_from, tz) if day_from else None,
            active_to=day_start(day_to + timedelta(days=1), tz) if day_to else None,
            limit=SEARCH_LIMIT,
        )
    results = [
        {
            **row,
            "name": mask_name(row["name"]),
            "phone": mask_phone(row["phone"]),
            "updated_at": row["updated_at"].astimezone(tz),
        }
        for row in rows
    ]
    searched = any(value for value in fields.values())
    return console.render(
        request,
        "search.html",
        400 if problems else 200,
        fields=fields,
        results=results,
        problems=problems,
        steps=console.store.conversation_steps(),
        searched=searched,
        limit=SEARCH_LIMIT,
    )
