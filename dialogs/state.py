"""The saved conversation: `State` (current step + everything collected, validated by
pydantic, stored as JSON after every turn so any process can resume the borrower exactly where
they were), and `answers_summary` for tools that read a saved conversation (the support console).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field

from dialogs.answers import summary
from dialogs.steps import Collected, Step


class State(BaseModel):
    step: Step = Step.consent
    locale: str = "zh_CN"
    consented: bool = False
    declined: bool = False  # the privacy notice was declined: no text of this chat is kept
    borrower_id: int | None = None
    user_id: int | None = None  # the account that identified this conversation (it alone may use it)
    loan_id: str | None = None
    invite_token: str | None = None
    invite_loan: str | None = None
    typed_loan: str | None = None
    by_phone: bool = False  # the typed loan number is locked for number + ID: its holder's phone identifies
    data: Collected = Field(default_factory=Collected)
    menu: int = 0
    offered: list[str] = Field(default_factory=list)
    history: list[Step] = Field(default_factory=list)
    editing: bool = False
    paused_at: Step | None = None
    quote_as_of: date | None = None
    options: list[str] = Field(default_factory=list)
    custom: dict[str, str] | None = None
    chosen: str | None = None
    plan_id: int | None = None
    needs_person: bool = False
    reported_amount: Decimal | None = None
    return_step: Step | None = None
    person_from: Step | None = None
    input_errors: int = 0

    def begin_again(self) -> None:
        """/start: forget this conversation but its language and who the borrower is (once known)."""
        fresh = State(locale=self.locale, borrower_id=self.borrower_id, user_id=self.user_id)
        for name in State.model_fields:
            setattr(self, name, getattr(fresh, name))

    @property
    def contact_loan(self) -> str | None:
        """The loan a shared phone number is checked against: the invitation's, or the typed
        loan number whose number-and-ID path is locked."""
        return self.invite_loan or (self.typed_loan if self.by_phone else None)


def answers_summary(saved: dict[str, Any], currency: str) -> dict[str, Any]:
    """A saved conversation's answers (its JSON `data`) as `dialogs.answers.summary` gives them."""
    return summary(State.model_validate(saved).data, currency)
