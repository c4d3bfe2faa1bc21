"""The conversation's data: what comes in (`Event`), what goes out (`Reply`), and the saved
`State` (current step + everything collected, validated by pydantic, stored as JSON after
every step so any process can resume the borrower exactly where they were)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from plans.models import ExpenseCategory, HardshipReason, IncomeKind, Outlook


@dataclass(frozen=True)
class Event:
    """One thing the borrower did: typed text, pressed a button, sent a command or contact."""

    kind: Literal["text", "button", "command", "contact"]
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


class Collected(BaseModel):
    """The borrower's answers. Each is None until asked."""

    reason: HardshipReason | None = None
    reason_text: str | None = None
    outlook: Outlook | None = None
    recovery_months: int | None = None
    income_after: Decimal | None = None
    income: Decimal | None = None
    income_kind: IncomeKind | None = None
    high_months: list[int] | None = None
    high_income: Decimal | None = None
    expenses_itemised: bool | None = None
    expenses: dict[ExpenseCategory, Decimal] = Field(default_factory=dict)
    expenses_total: Decimal | None = None
    other_debts: Decimal | None = None
    savings: Decimal | None = None
    dependants: int | None = None


class State(BaseModel):
    step: str = "consent"
    locale: str = "zh_CN"
    consented: bool = False
    borrower_id: int | None = None
    loan_id: str | None = None
    invite_token: str | None = None
    invite_loan: str | None = None
    typed_loan: str | None = None
    data: Collected = Field(default_factory=Collected)
    menu: int = 0
    offered: list[str] = Field(default_factory=list)
    history: list[str] = Field(default_factory=list)
    editing: bool = False
    paused_at: str | None = None
    quote_as_of: date | None = None
    options: list[str] = Field(default_factory=list)
    custom: dict[str, str] | None = None
    chosen: str | None = None
    plan_id: int | None = None
    needs_person: bool = False
    reported_amount: Decimal | None = None
    return_step: str | None = None
    person_from: str | None = None
    input_errors: int = 0
