"""The dialogue's window on the world (`dialogs.ports.Services`), backed by the store.

Identity checks live here, not in dialogs/: phone numbers are compared in E.164 form, ID
digits exactly; a loan is only ever described to the borrower it belongs to.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.errors import BotError, InviteError, StoreError
from bot.i18n import Translator
from bot.loans_import import normalise_phone
from bot.store import Store
from plans.models import Loan, Option
from plans.policy import Policy

LOCKOUT_WINDOW = timedelta(hours=1)
LOAN_FIELDS = set(Loan.model_fields)


def loan_from_record(record: dict[str, Any]) -> Loan:
    return Loan.model_validate({k: v for k, v in record.items() if k in LOAN_FIELDS and v is not None})


class StoreServices:
    def __init__(self, store: Store, policy: Policy, translator: Translator,
                 clock: Callable[[], datetime]) -> None:
        self.store = store
        self.policy = policy
        self.translator = translator
        self.clock = clock

    def now(self) -> datetime:
        return self.clock()

    def render(self, locale: str, key: str, **data: Any) -> str:
        return self.translator.render(locale, key, **data)

    def invite_loan(self, token: str) -> tuple[str | None, str]:
        try:
            return self.store.peek_invite(token, self.now()), "ok"
        except InviteError as error:
            return None, error.reason

    def redeem_invite(self, token: str, chat_id: int) -> None:
        self.store.redeem_invite(token, self.now(), chat_id)

    def _borrower_of(self, loan_id: str) -> dict | None:
        loan = self.store.get_loan(loan_id)
        return self.store.get_borrower(loan["borrower_id"]) if loan else None

    def match_contact(self, loan_id: str, phone: str) -> int | None:
        borrower = self._borrower_of(loan_id)
        # Telegram sends a contact's number in international form, often without the "+".
        raw = phone.strip()
        try:
            shared = normalise_phone(raw if raw.startswith("+") else "+" + raw)
        except (BotError, ValueError):
            return None
        return borrower["id"] if borrower and borrower["phone"] == shared else None

    def match_id(self, loan_id: str, id_last4: str) -> int | None:
        borrower = self._borrower_of(loan_id)
        return borrower["id"] if borrower and borrower["id_last4"].upper() == id_last4.upper() else None

    def borrower_for_user(self, user_id: int) -> int | None:
        borrower = self.store.borrower_by_telegram(user_id)
        return borrower["id"] if borrower else None

    def bind(self, borrower_id: int, user_id: int, chat_id: int) -> bool:
        try:
            self.store.bind_telegram(borrower_id, user_id, chat_id)
        except StoreError:
            return False
        return True

    def failed_identifications(self, chat_id: int) -> int:
        return self.store.failed_identifications_since(chat_id, self.now() - LOCKOUT_WINDOW)

    def record_identification(self, chat_id: int, ok: bool) -> None:
        self.store.record_identification_attempt(chat_id, ok, self.now())

    def loans(self, borrower_id: int) -> list[Loan]:
        return [loan_from_record(record) for record in self.store.loans_for_borrower(borrower_id)]

    def save_plan(self, *, loan_id: str, borrower_id: int, option: Option, consent_text: str,
                  user_id: int, update_id: int | None) -> int:
        terms = {
            "option_id": option.option_id, "structure": option.structure.value, "currency": option.currency,
            "total_repayable": option.total_repayable, "total_interest": option.total_interest,
            "apr": option.apr, "effective_annual_rate": option.effective_annual_rate,
            "plan_rate": option.plan_rate, "penalties_waived": option.penalties_waived,
            "down_payment": option.down_payment, "parameters": option.parameters,
        }
        rows = [{"number": r.number, "due_date": r.due_date, "payment": r.payment, "principal": r.principal,
                 "interest": r.interest, "fees": r.fees, "kind": r.kind} for r in option.schedule]
        plan_id = self.store.save_plan(
            loan_id=loan_id, borrower_id=borrower_id, option=terms, installments=rows,
            consent_text=consent_text, consent_user_id=user_id, consent_update_id=update_id,
            accepted_at=self.now(),
        )
        self.audit("plan_accepted", borrower_id=borrower_id, loan_id=loan_id, plan_id=plan_id,
                   option_id=option.option_id)
        return plan_id

    def audit(self, event: str, **details: Any) -> None:
        self.store.audit(event, at=self.now(), **details)
