"""What comes into the dialogue (`Event`) and what goes out (`Reply` with its `Button`s)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

EventKind = Literal["text", "button", "command", "contact", "edited"]


@dataclass(frozen=True)
class Event:
    """One thing the borrower did: typed text, pressed a button, sent a command or contact, or
    edited a message they had sent before."""

    kind: EventKind
    chat_id: int
    user_id: int
    text: str = ""
    update_id: int | None = None
    language_code: str | None = None
    contact_phone: str = ""
    contact_user_id: int | None = None

    @property
    def command(self) -> tuple[str, str]:
        """('/start', 'token') for a command event."""
        name, _, arg = self.text.strip().partition(" ")
        return name.split("@")[0].lower(), arg.strip()


@dataclass(frozen=True)
class Button:
    """A choice: its label is the message key `btn.<key>` rendered with `params`."""

    key: str
    payload: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """What to say: a message key, the data its template needs, and the buttons."""

    key: str
    data: dict[str, Any] = field(default_factory=dict)
    buttons: list[list[Button]] = field(default_factory=list)
    request_contact: bool = False
    attachments: tuple[str, ...] = ()  # files the front end makes from `data["plan_id"]`: "chart", "calendar"
    audience: Literal["borrower", "support"] = "borrower"  # "support": for the support team's chat
