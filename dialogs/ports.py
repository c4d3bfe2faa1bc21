"""What the dialogue needs from the world, as a Protocol the runtime implements
(`bot.services`). Keeping it this small is what lets the same dialogue run on Telegram, in a
terminal and in tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Protocol

from plans.models import Loan, Option
from plans.policy import Policy


@dataclass(frozen=True)
class SupportStatus:
    """Whether a person can answer through this channel at all (a support group or a console
    agent exists), whether they are working now, and the hours they work."""

    reachable: bool
    open_now: bool
    opens_at: datetime | None  # the next opening, when closed now
    opens: time
    closes: time


class Services(Protocol):
    policy: Policy

    def support_status(self) -> SupportStatus: ...

    def now(self) -> datetime: ...

    def render(self, locale: str, key: str, **data: Any) -> str:
        """The exact text a message key renders to (used for the consent record)."""

    def invite_loan(self, token: str) -> tuple[str | None, str]:
        """(loan_id, "ok") for a usable invite, else (None, "unknown" | "used" | "expired")."""

    def redeem_invite(self, token: str, chat_id: int) -> None: ...

    def match_contact(self, loan_id: str, phone: str) -> int | None:
        """The borrower id if `phone` is the phone on file for the loan's borrower."""

    def match_id(self, loan_id: str, id_last4: str) -> int | None: ...

    def borrower_for_user(self, user_id: int) -> int | None: ...

    def bind(self, borrower_id: int, user_id: int, chat_id: int) -> bool:
        """Bind the Telegram account; False if the borrower is bound to another account."""

    def failed_identifications(self, user_id: int) -> int:
        """This account's failures in the lockout window (the last hour), from any chat."""

    def record_identification(self, chat_id: int, user_id: int, ok: bool, loan_id: str | None = None) -> None: ...

    def failed_identifications_for_loan(self, loan_id: str) -> int:
        """Failures in the lockout window for this loan number, from any chat or account."""

    def loans(self, borrower_id: int) -> list[Loan]: ...

    def save_plan(
        self,
        *,
        loan_id: str,
        borrower_id: int,
        option: Option,
        consent_text: str,
        user_id: int,
        update_id: int | None,
        chosen_over_budget: bool = False,
    ) -> int:
        """Record the accepted plan (superseding the loan's active plan), its pauses and its
        reminders; `chosen_over_budget`: the borrower's own amount, above their budget, agreed
        after they confirmed they were sure."""

    def active_plan(self, borrower_id: int) -> dict[str, Any] | None:
        """The borrower's active plan as template data (summary, progress, schedule)."""

    def report_payment(self, plan_id: int, amount: Decimal, paid_on: date) -> None: ...

    def break_plan(self, plan_id: int, reason: str) -> None:
        """End the plan as broken and hand the case to a person."""

    def audit(self, event: str, **details: Any) -> None: ...
