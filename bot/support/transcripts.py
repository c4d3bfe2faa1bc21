"""What support staff read: a chat's transcript and the list of conversations.

A transcript is every logged message of the chosen chats in order (`Entry`): its time in the
lender's time zone, direction, the dialogue step it belongs to, the plain text (Telegram HTML
stripped and unescaped), the button labels offered, the support agent who wrote it (a reply
during a hand-off), and - for a button press, logged as
``[button 12:choose:level-24]`` - the label that button had in the most recent earlier
message of the same chat that offered it.  Personal data is masked (`bot.support.masking`) unless
``reveal=True``; the borrower's own name is masked wherever it appears.

Which chats: ``chat_id`` is one chat; ``borrower_id`` every chat that spoke as that borrower;
``loan_id`` every chat whose conversation is or was (per the audit log) about the loan.

Three renderings for the CLI and downloads: `as_text`, `as_json`, `as_html` (one
self-contained, escaped page of chat bubbles; the web console reuses its bubbles).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from bot.errors import BotError
from bot.i18n import Translator, plain_text
from bot.store import Store
from bot.support.masking import mask_name, mask_phone, mask_text

_PRESS = re.compile(r"\[button (?P<data>[^\]]*)\]")
TEMPLATES = Path(__file__).resolve().parent / "web" / "templates"
STATIC = Path(__file__).resolve().parent / "web" / "static"


class TranscriptError(BotError):
    """Nothing to show for the selection asked for."""


@dataclass
class Entry:
    at: datetime
    chat_id: int
    direction: str  # "in" (borrower) or "out" (bot)
    step: str | None
    text: str
    buttons: list[list[str]] = field(default_factory=list)
    pressed: str | None = None  # a button press: the label the borrower saw
    pressed_data: str | None = None
    agent: str | None = None  # a support agent's reply: who wrote it

    def as_dict(self) -> dict[str, Any]:
        """For JSON: `agent` only on an agent's reply."""
        data = asdict(self)
        data["at"] = self.at.isoformat()
        if self.agent is None:
            del data["agent"]
        return data


def day_start(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in the lender's time zone."""
    return datetime.combine(day, time.min, tzinfo=tz)


def chats_for(
    store: Store, *, chat_id: int | None = None, loan_id: str | None = None, borrower_id: int | None = None
) -> list[int]:
    chosen = [value is not None for value in (chat_id, loan_id, borrower_id)]
    if sum(chosen) != 1:
        raise TranscriptError("choose exactly one of a chat, a loan or a borrower")
    if chat_id is not None:
        return [chat_id]
    if loan_id is not None:
        return store.chats_of_loan(loan_id)
    assert borrower_id is not None  # exactly one was chosen
    return store.chats_of_borrower(borrower_id)


def build_transcript(
    store: Store,
    tz: ZoneInfo,
    *,
    chat_id: int | None = None,
    loan_id: str | None = None,
    borrower_id: int | None = None,
    since: datetime | None = None,
    reveal: bool = False,
) -> list[Entry]:
    """The entries of the chosen chats, oldest first (see the module docstring)."""
    chats = chats_for(store, chat_id=chat_id, loan_id=loan_id, borrower_id=borrower_id)
    names = store.borrower_names_of_chats(chats)

    def clean(text: str) -> str:
        return text if reveal else mask_text(text, names)

    offered: dict[int, dict[str, str]] = {}  # chat -> callback data -> label last offered
    entries = []
    for message in store.chat_messages(chats):
        labels = offered.setdefault(message["chat_id"], {})
        buttons = message["buttons"] or []
        for row in buttons:
            for label, data in row:
                labels[data] = label
        if since is not None and message["at"] < since:
            continue
        press = _PRESS.fullmatch(message["text"]) if message["direction"] == "in" else None
        entry = Entry(
            at=message["at"].astimezone(tz),
            chat_id=message["chat_id"],
            direction=message["direction"],
            step=message["step"],
            text=clean(plain_text(message["text"]) if message["direction"] == "out" else message["text"]),
            buttons=[[clean(label) for label, _ in row] for row in buttons],
            agent=message["meta"].get("agent"),
        )
        if press:
            entry.pressed_data = press["data"]
            entry.pressed = clean(labels.get(press["data"], press["data"]))
        entries.append(entry)
    return entries


# ------------------------------------------------------------------ renderings


def as_json(entries: list[Entry]) -> str:
    return json.dumps([entry.as_dict() for entry in entries], ensure_ascii=False, indent=2)


def as_text(entries: list[Entry]) -> str:
    """Readable plain text: a header line per message, the text indented, then its buttons."""
    chats = {entry.chat_id for entry in entries}
    lines: list[str] = []
    for entry in entries:
        who = "borrower" if entry.direction == "in" else f"{entry.agent} (support)" if entry.agent else "bot"
        where = f" chat {entry.chat_id}" if len(chats) > 1 else ""
        lines.append(f"{entry.at:%Y-%m-%d %H:%M:%S %Z}{where} [{entry.step or '-'}] {who}:")
        if entry.pressed is not None:
            lines.append(f"    (pressed) {entry.pressed}")
        else:
            lines.extend("    " + line for line in entry.text.splitlines() or [""])
        labels = [label for row in entry.buttons for label in row]
        if labels:
            lines.append("    buttons: " + " | ".join(f"[{label}]" for label in labels))
    return "\n".join(lines)


def page_environment(translator: Translator) -> Environment:
    """The Jinja2 environment of the console pages and the HTML export (autoescaped)."""
    from bot.i18n import make_filters  # Babel formatting exactly as the bot's messages

    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["mask_name"] = mask_name
    env.globals["mask_phone"] = mask_phone
    env.globals["filters_for"] = make_filters
    env.globals["translator"] = translator
    return env


def as_html(entries: list[Entry], translator: Translator, locale: str, title: str) -> str:
    """One self-contained page (styles inline, no scripts, everything escaped)."""
    from markupsafe import Markup

    env = page_environment(translator)

    def t(key: str, **data: Any) -> Markup:
        return Markup(translator.render(locale, key, **data))

    return env.get_template("export.html").render(
        entries=entries,
        title=title,
        t=t,
        locale=locale,
        multi_chat=len({e.chat_id for e in entries}) > 1,
        css=Markup((STATIC / "console.css").read_text(encoding="utf-8")),
    )


# ------------------------------------------------------------------ the conversation list


@dataclass
class ConversationRow:
    chat_id: int
    borrower_id: int | None
    name: str
    loan_id: str | None
    step: str
    updated_at: datetime
    needs_person: bool


def conversation_steps() -> list[str]:
    """Every step a conversation can be at, as stored, in the order of the step table."""
    from dialogs.steps import Step

    return [step.value for step in Step]


def list_conversations(
    store: Store,
    tz: ZoneInfo,
    *,
    step: str | None = None,
    needs_person: bool = False,
    since: datetime | None = None,
    reveal: bool = False,
) -> list[ConversationRow]:
    if step is not None and step not in (steps := conversation_steps()):
        raise TranscriptError(f"unknown --state {step!r}; the states are: {', '.join(steps)}")
    rows = store.search_conversations(
        step=step, needs_person=True if needs_person else None, active_from=since, limit=10_000
    )
    loans: dict[int, str | None] = {}  # a borrower back at /start after a plan: the plan's loan

    def loan_of(row: dict) -> str | None:
        if row["loan_id"] or row["borrower_id"] is None:
            return row["loan_id"]
        if row["borrower_id"] not in loans:
            plan = store.active_plan_for_borrower(row["borrower_id"])
            own = [loan["loan_id"] for loan in store.loans_for_borrower(row["borrower_id"])]
            loans[row["borrower_id"]] = plan["loan_id"] if plan else own[0] if len(own) == 1 else None
        return loans[row["borrower_id"]]

    return [
        ConversationRow(
            row["chat_id"],
            row["borrower_id"],
            (row["name"] or "") if reveal else mask_name(row["name"]),
            loan_of(row),
            row["step"],
            row["updated_at"].astimezone(tz),
            row["needs_person"],
        )
        for row in rows
    ]


def conversations_as_text(rows: list[ConversationRow]) -> str:
    header = f"{'chat':>12}  {'borrower':>8}  {'name':<12} {'loan':<12} {'step':<16} {'updated':<19}  person"
    lines = [header]
    for row in rows:
        lines.append(
            f"{row.chat_id:>12}  {row.borrower_id if row.borrower_id is not None else '-':>8}  {row.name or '-':<12} "
            f"{row.loan_id or '-':<12} {row.step:<16} {row.updated_at:%Y-%m-%d %H:%M:%S}  "
            f"{'yes' if row.needs_person else 'no'}"
        )
    return "\n".join(lines)
