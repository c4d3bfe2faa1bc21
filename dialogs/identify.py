"""Who is this: /start (with an invitation token), the privacy notice, identification and the
choice of loan. Named handlers of the step table (`dialogs.steps`).

Two ways to identify: an invitation link's loan plus the phone number Telegram shares for the
borrower's own account, or the loan number plus the last 4 characters of the ID. Failures are
counted per Telegram account across all its chats (`MAX_FAILURES` in the lockout window) and
per loan number across all accounts (`MAX_LOAN_FAILURES`); a loan number locked that way keeps
the shared-phone path open, so a stranger's guesses never lock the real borrower out. Every
lockout offers a person.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dialogs import steps
from dialogs.model import Button, Event, Reply
from dialogs.parsing import parse_id_last4, parse_loan_number
from dialogs.views import loan_view

if TYPE_CHECKING:
    from dialogs.machine import Dialogue
    from dialogs.state import State

MAX_FAILURES = 5  # failed identifications per Telegram account in the lockout window
MAX_LOAN_FAILURES = 10  # ... and per loan number from all accounts together (many accounts, one target)


def start(d: Dialogue, state: State, event: Event, token: str) -> list[Reply]:
    """Begin again (who the borrower is, once known, is kept), maybe with an invitation."""
    state.begin_again()
    if token:
        loan_id, why = d.services.invite_loan(token)
        if loan_id is None:
            d.services.audit("invite_refused", chat_id=event.chat_id, reason=why)
            return [Reply(f"invite_{why}"), *d.ask(state)]
        state.invite_token, state.invite_loan = token, loan_id
    return [Reply("welcome"), *d.ask(state)]


def consent(d: Dialogue, state: State, event: Event, value: str) -> list[Reply]:
    if value != "yes":
        state.declined = True
        d.services.audit("consent_declined", chat_id=event.chat_id)
        return [Reply("consent_declined")]
    state.consented, state.declined = True, False
    d.services.audit("consent_given", chat_id=event.chat_id)
    if state.borrower_id is None:
        bound = d.services.borrower_for_user(event.user_id)
        if bound is not None:
            state.borrower_id, state.user_id = bound, event.user_id
        elif _locked(d, event):
            return _locked_reply(d, state)
    return d.advance(state)


def _locked(d: Dialogue, event: Event) -> bool:
    return d.services.failed_identifications(event.user_id) >= MAX_FAILURES


def _locked_reply(d: Dialogue, state: State) -> list[Reply]:
    return [d.menu(state, "identify_locked", [[Button("person", "person:locked")]])]


def shared_contact(d: Dialogue, state: State, event: Event) -> list[Reply]:
    if _locked(d, event):
        return _locked_reply(d, state)
    loan_id = state.contact_loan
    if loan_id is None:  # no invitation or locked loan number to check a phone against: ask for the number
        return d.go(state, steps.Step.identify_loan, remember=False)
    if state.invite_token is not None:
        invited, why = d.services.invite_loan(state.invite_token)
        if invited != loan_id:
            return _invite_gone(d, state, event, why)
    own = event.contact_user_id == event.user_id
    borrower = d.services.match_contact(loan_id, event.contact_phone) if own else None
    if borrower is None:
        return _failed(d, state, event, "identify_contact_mismatch" if own else "identify_not_own_contact", loan_id)
    if state.invite_token is not None:
        d.services.redeem_invite(state.invite_token, event.chat_id)
    return _verified(d, state, event, borrower, loan_id)


def _invite_gone(d: Dialogue, state: State, event: Event, why: str) -> list[Reply]:
    """The invitation expired (or was used) since /start: identify by loan number instead."""
    d.services.audit("invite_refused", chat_id=event.chat_id, reason=why, step=state.step)
    state.invite_token = state.invite_loan = None
    return [Reply(f"invite_{why}"), *d.go(state, steps.Step.identify_loan, remember=False)]


def loan_number(d: Dialogue, state: State, event: Event, text: str) -> list[Reply]:
    state.typed_loan = parse_loan_number(text)
    return d.advance(state)


def id_digits(d: Dialogue, state: State, event: Event, text: str) -> list[Reply]:
    if state.typed_loan is None:
        return d.go(state, steps.Step.identify_loan, remember=False)
    if _locked(d, event):
        d.services.audit("identification_locked", chat_id=event.chat_id, loan_id=state.typed_loan)
        return _locked_reply(d, state)
    last4 = parse_id_last4(text)
    if d.services.failed_identifications_for_loan(state.typed_loan) >= MAX_LOAN_FAILURES:
        # Too many guesses at this loan number from other accounts: only its holder's own
        # phone number can identify now.
        d.services.audit("identification_locked", chat_id=event.chat_id, loan_id=state.typed_loan, path="loan")
        state.by_phone = True
        return [Reply("identify_loan_locked"), *d.go(state, steps.Step.identify_contact, remember=False)]
    borrower = d.services.match_id(state.typed_loan, last4)
    if borrower is None:
        return _failed(d, state, event, "identify_mismatch", state.typed_loan)
    return _verified(d, state, event, borrower, state.typed_loan)


def _failed(d: Dialogue, state: State, event: Event, key: str, loan_id: str | None) -> list[Reply]:
    d.services.record_identification(event.chat_id, event.user_id, False, loan_id)
    d.services.audit("identification_failed", chat_id=event.chat_id, step=state.step)
    if _locked(d, event):
        return _locked_reply(d, state)
    left = MAX_FAILURES - d.services.failed_identifications(event.user_id)
    again = (
        d.go(state, steps.Step.identify_loan, remember=False) if state.step is steps.Step.identify_id else d.ask(state)
    )
    return [Reply(key, {"attempts_left": left}), *again]


def _verified(d: Dialogue, state: State, event: Event, borrower: int, loan_id: str) -> list[Reply]:
    if not d.services.bind(borrower, event.user_id, event.chat_id):
        # Counted as a failure: the answer tells this account the details were right, so the
        # lockout must limit how often it can be asked.
        d.services.record_identification(event.chat_id, event.user_id, False)
        d.services.audit("second_account_refused", chat_id=event.chat_id, borrower_id=borrower)
        return [Reply("identify_other_account")]
    d.services.record_identification(event.chat_id, event.user_id, True)
    d.services.audit("identified", chat_id=event.chat_id, borrower_id=borrower, loan_id=loan_id)
    state.borrower_id, state.user_id, state.loan_id = borrower, event.user_id, loan_id
    state.history.clear()
    return d.advance(state)


# ---------------------------------------------------------------------------- the loan


def only_loan(d: Dialogue, state: State) -> None:
    """Entering the loan step: a borrower with one loan needs no choice."""
    loans = d.loans(state)
    if state.loan_id is None and len(loans) == 1:
        state.loan_id = loans[0].loan_id


def show_loan(d: Dialogue, state: State) -> list[Reply]:
    loans = d.loans(state)
    loan = d.loan(state)
    if loan is None:
        if not loans:
            return [Reply("no_loans")]
        buttons = [[Button("loan", f"loan:{other.loan_id}", {"loan_id": other.loan_id})] for other in loans]
        return [d.menu(state, "choose_loan", buttons, {"loans": [loan_view(other) for other in loans]})]
    buttons = [[Button("continue", steps.NEXT)]]
    if len(loans) > 1:
        buttons.append([Button("other_loan", "loan:other")])
    return [d.menu(state, "loan_overview", buttons, {"loan": loan_view(loan)})]


def pick_loan(d: Dialogue, state: State, event: Event, value: str) -> list[Reply]:
    state.loan_id = None if value == "other" else value
    return d.ask(state)
