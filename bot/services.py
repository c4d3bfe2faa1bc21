"""The dialogue's window on the world (`dialogs.ports.Services`), backed by the store.

Identity checks live here, not in dialogs/: phone numbers are compared in E.164 form, ID
digits exactly; a loan is only ever described to the borrower it belongs to. A terminal
(`restructure-bot chat`) identifies a borrower for its own conversation only: it never binds
a Telegram account, so the real borrower is not refused on Telegram afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from bot.errors import InviteError, StoreError
from bot.handoff import support_status
from bot.i18n import Translator
from bot.lender.plan_life import (
    borrower_zone,
    break_plan,
    remaining_loan,
    schedule_reminders,
)
from bot.phones import normalise_phone
from bot.store import Store
from bot.store.statuses import InstalmentStatus, PlanStatus
from dialogs.ports import SupportStatus
from dialogs.views import stored_pause_view
from plans.models import Loan, Option
from plans.policy import Policy

LOCKOUT_WINDOW = timedelta(hours=1)
LOAN_FIELDS = set(Loan.model_fields)


def loan_from_record(record: dict[str, Any]) -> Loan:
    return Loan.model_validate({k: v for k, v in record.items() if k in LOAN_FIELDS and v is not None})


class StoreServices:
    def __init__(
        self,
        store: Store,
        policy: Policy,
        translator: Translator,
        clock: Callable[[], datetime],
        zone: ZoneInfo,
        support_window: tuple[time, time],
        *,
        support_chat_id: int | None = None,
        binds_accounts: bool = True,
    ) -> None:
        self.store = store
        self.policy = policy
        self.translator = translator
        self.clock = clock
        self.zone = zone
        self.support_window = support_window
        self.support_chat_id = support_chat_id
        self.binds_accounts = binds_accounts

    def support_status(self) -> SupportStatus:
        """A person can answer if there is a support group or an enabled console account."""
        reachable = self.support_chat_id is not None or self.store.any_support_user_enabled()
        open_now, opens_at = support_status(self.now(), self.zone, self.support_window)
        opens, closes = self.support_window
        return SupportStatus(reachable, open_now, opens_at, opens, closes)

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
        """The loan's borrower if `phone` is theirs. Telegram shares a number in international
        form, often without the "+" (`8613800138000`), and only that reading counts; typed in
        a terminal it is read as the import reads a file (`138 0013 8001`, `+86 138...`: a
        number without a country code is Chinese)."""
        borrower = self._borrower_of(loan_id)
        raw = phone.strip()
        if self.binds_accounts and not raw.startswith("+"):
            raw = "+" + raw
        try:
            shared = normalise_phone(raw)
        except ValueError:
            return None
        return borrower["id"] if borrower and borrower["phone"] == shared else None

    def match_id(self, loan_id: str, id_last4: str) -> int | None:
        borrower = self._borrower_of(loan_id)
        return borrower["id"] if borrower and borrower["id_last4"].upper() == id_last4.upper() else None

    def borrower_for_user(self, user_id: int) -> int | None:
        if not self.binds_accounts:
            return None
        borrower = self.store.borrower_by_telegram(user_id)
        return borrower["id"] if borrower else None

    def bind(self, borrower_id: int, user_id: int, chat_id: int) -> bool:
        if not self.binds_accounts:
            return True
        try:
            self.store.bind_telegram(borrower_id, user_id, chat_id)
        except StoreError:
            return False
        return True

    def failed_identifications(self, user_id: int) -> int:
        return self.store.failed_identifications_by_account(user_id, self.now() - LOCKOUT_WINDOW)

    def record_identification(self, chat_id: int, user_id: int, ok: bool, loan_id: str | None = None) -> None:
        self.store.record_identification_attempt(chat_id, ok, self.now(), loan_id, user_id)

    def failed_identifications_for_loan(self, loan_id: str) -> int:
        return self.store.failed_identifications_for_loan(loan_id, self.now() - LOCKOUT_WINDOW)

    def loans(self, borrower_id: int) -> list[Loan]:
        """The borrower's loans; one under an active plan is what that plan still leaves owed,
        with the plans of the last 12 months counted as restructures (the re-plan limit)."""
        return [self._current(loan_from_record(record)) for record in self.store.loans_for_borrower(borrower_id)]

    def _current(self, loan: Loan) -> Loan:
        plan = self.store.active_plan_for_loan(loan.loan_id)
        if plan is None:
            return loan
        recent = self.store.plans_accepted_since(loan.loan_id, self.now() - timedelta(days=365))
        return remaining_loan(
            loan, plan, self.store.plan_installments(plan["id"]), self._today(), loan.prior_restructures + recent
        )

    def _today(self) -> date:
        return self.now().astimezone(self.zone).date()

    def active_plan(self, borrower_id: int) -> dict[str, Any] | None:
        plan = self.store.active_plan_for_borrower(borrower_id)
        if plan is None:
            return None
        return plan_view(
            plan, self.store.plan_installments(plan["id"]), self._today(), self.store.plan_pauses(plan["id"])
        )

    def report_payment(self, plan_id: int, amount: Decimal, paid_on: date) -> None:
        self.store.report_payment(plan_id, amount, paid_on, self.now())

    def break_plan(self, plan_id: int, reason: str) -> None:
        break_plan(self.store, plan_id, self.now(), reason)

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
        """Record the plan and everything it discloses (`plan_terms`), its instalments, its
        pauses and its reminders, superseding the loan's active plan, in one transaction."""
        terms = plan_terms(option, chosen_over_budget)
        rows = [
            {
                "number": r.number,
                "due_date": r.due_date,
                "payment": r.payment,
                "principal": r.principal,
                "interest": r.interest,
                "fees": r.fees,
                "kind": r.kind,
            }
            for r in option.schedule
        ]
        pauses = [
            {
                "first_date": p.first_date,
                "last_date": p.last_date,
                "months": p.months,
                "interest": p.interest,
                "capitalised": p.capitalised,
            }
            for p in option.pauses
        ]
        with self.store.transaction():
            previous = self.store.active_plan_for_loan(loan_id)
            plan_id = self.store.save_plan(
                loan_id=loan_id,
                borrower_id=borrower_id,
                option=terms,
                installments=rows,
                consent_text=consent_text,
                consent_user_id=user_id,
                consent_update_id=update_id,
                accepted_at=self.now(),
            )
            self.store.save_plan_pauses(plan_id, pauses)
            if previous is not None and previous["id"] != plan_id:
                self.store.end_plan(previous["id"], PlanStatus.SUPERSEDED, self.now(), superseded_by=plan_id)
            self.audit(
                "plan_accepted",
                borrower_id=borrower_id,
                loan_id=loan_id,
                plan_id=plan_id,
                option_id=option.option_id,
                supersedes=previous["id"] if previous else None,
                affordable=option.affordable,
                chosen_over_budget=chosen_over_budget,
            )
            zone = borrower_zone(self.store, borrower_id, self.zone)
            schedule_reminders(self.store, self.policy, plan_id, zone, self.now())
        return plan_id

    def audit(self, event: str, **details: Any) -> None:
        self.store.audit(event, at=self.now(), **details)


def plan_terms(option: Option, chosen_over_budget: bool = False) -> dict[str, Any]:
    """What is kept of an agreed option besides its schedule (`plans.terms`): its cost and
    every disclosure the borrower agreed to, whether it fits the budget and, for the borrower's
    own amount above it, that they chose it knowingly (with the budget they were shown)."""
    over = next((r.params for r in option.reasons if r.key == "over_budget"), None)
    return {
        "option_id": option.option_id,
        "structure": option.structure.value,
        "currency": option.currency,
        "total_repayable": option.total_repayable,
        "total_interest": option.total_interest,
        "apr": option.apr,
        "effective_annual_rate": option.effective_annual_rate,
        "plan_rate": option.plan_rate,
        "down_payment": option.down_payment,
        "parameters": option.parameters,
        "restructured_balance": option.restructured_balance,
        "restructured_principal": option.restructured_principal,
        "interest_capitalised": option.interest_capitalised,
        "overdue_interest_carried": option.overdue_interest_carried,
        "fees_from_earlier_plan": option.fees_from_earlier_plan,
        "penalties_waived": option.penalties_waived,
        "penalties_kept": option.penalties_kept,
        "penalties_kept_paid": option.penalties_kept_paid,
        "interest_waived": option.interest_waived,
        "principal_waived": option.principal_waived,
        "pause_interest": option.pause_interest,
        "affordable": option.affordable,
        "chosen_over_budget": chosen_over_budget,
        "available_each_month": over["available"] if over else None,
        "completion_likelihood": option.completion_likelihood,  # the report's at-risk list ranks by it
    }


def plan_view(
    plan: dict[str, Any], instalments: list[dict[str, Any]], today: date, pauses: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """A plan as the borrower sees it: progress, what is next, every instalment, and its
    pauses (due dates with nothing to pay); `pause_now` is the pause under way or next, if
    it comes before the next payment."""
    unpaid = [i for i in instalments if i["status"] != InstalmentStatus.PAID]
    following = unpaid[0] if unpaid else None
    shown_pauses = [stored_pause_view(p) for p in pauses]
    ahead = [
        p for p in shown_pauses if p["last"] >= today and (following is None or p["first"] <= following["due_date"])
    ]
    return {
        "id": plan["id"],
        "loan_id": plan["loan_id"],
        "structure": plan["structure"],
        "currency": plan["currency"],
        "status": plan["status"],
        "payments": len(instalments),
        "paid_count": len(instalments) - len(unpaid),
        "total": sum((i["amount"] for i in instalments), Decimal(0)),
        "paid_total": sum((i["paid"] for i in instalments), Decimal(0)),
        "remaining": sum((i["amount"] - i["paid"] for i in unpaid), Decimal(0)),
        "reported": sum((i["reported"] or Decimal(0) for i in instalments), Decimal(0)),
        "next_due": following["due_date"] if following else None,
        "next_amount": following["amount"] - following["paid"] if following else Decimal(0),
        "overdue": any(i["due_date"] < today for i in unpaid),
        "instalments": [
            {
                "number": i["number"],
                "due": i["due_date"],
                "amount": i["amount"],
                "paid": i["paid"],
                "status": i["status"],
                "reported": i["reported"],
            }
            for i in instalments
        ],
        "pauses": shown_pauses,
        "pause_now": ahead[0] if ahead else None,
    }
