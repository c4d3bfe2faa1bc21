"""The dialogue: `Dialogue(services).handle(state, event) -> replies`, mutating `state`.

Each step has an `_ask_<step>` that says what to show (a Reply with buttons) and, if it takes
input, an `_on_<step>` that validates it and moves on. Buttons carry the menu number they were
offered under (`<menu>:<payload>`): an older number is a stale menu, a payload that was not
offered is refused and audited. Errors never lose answers: the step is shown again with what
was expected. Global commands: /start, /help, /cancel, /back, /language, /human.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from datetime import date, timedelta

from dialogs.flow import EDITABLE, EXPENSE_CATEGORIES, FIRST_OF_GROUP, next_step
from dialogs.model import Button, Event, Reply, State
from dialogs.parsing import (
    InputError,
    parse_amount,
    parse_count,
    parse_day,
    parse_id_last4,
    parse_loan_number,
    parse_months,
    parse_text,
)
from dialogs.ports import Services
from dialogs.views import case_from, finances_from, loan_view, option_data, option_view, shorten
from plans.engine import custom_quote, offered_option, quote
from plans.errors import NoPlanPossible
from plans.models import Case, ExpenseCategory, HardshipReason, IncomeKind, Loan, Option, Outlook

MAX_FAILURES = 5  # failed identifications per chat in an hour
MAX_LOAN_FAILURES = 10  # ... and per loan number from all chats together (many accounts, one target)
ERRORS_BEFORE_OFFERING_PERSON = 3  # wrong answers in a row at one step
LOCALES = ("zh_CN", "en")
TEXT_STEPS = {"reason_text", "recovery", "income_after", "income", "high_months", "high_income",
              "expenses_total", "other_debts", "savings", "dependants", "identify_loan", "identify_id",
              "custom_amount", "paid_amount", "paid_date"} | {f"expense:{c.value}" for c in EXPENSE_CATEGORIES}


RELAY_PIECE = 3500  # of a borrower's text per relayed message: Telegram allows 4,096 with the header


def pieces(text: str, limit: int = RELAY_PIECE) -> list[str]:
    """`text` in order, cut into pieces of at most `limit` UTF-16 code units (what Telegram
    counts: a character outside the BMP, such as most emoji, is two). A cut falls after a
    space when there is one near the end of a piece, so a word or a number is rarely split
    (masking personal data for the support team looks at one piece at a time)."""
    found: list[str] = []
    start = size = 0
    index = 0
    while index < len(text):
        width = 2 if ord(text[index]) > 0xFFFF else 1
        if size + width > limit:
            space = max(text.rfind(" ", start, index), text.rfind("\n", start, index))
            cut = space + 1 if space > start and index - space <= limit // 10 else index
            found.append(text[start:cut])
            start, index, size = cut, cut, 0
            continue
        size += width
        index += 1
    found.append(text[start:])
    return found


class Dialogue:
    def __init__(self, services: Services) -> None:
        self.services = services

    # ------------------------------------------------------------------ entry point

    def handle(self, state: State, event: Event) -> list[Reply]:
        if self._someone_else(state, event):
            self.services.audit("other_user_refused", chat_id=event.chat_id, borrower_id=state.borrower_id,
                                user_id=event.user_id, kind=event.kind)
            return [Reply("identify_other_account")]
        if state.step == "with_person":
            return self._while_with_person(state, event)
        if event.kind == "command":
            return self._command(state, event)
        if state.step == "paused":
            state.step, state.paused_at = state.paused_at or "consent", None
            return [Reply("resumed"), *self._ask(state)]
        if event.kind == "contact":
            return self._on_contact(state, event)
        if event.kind == "button":
            return self._button(state, event)
        if state.step not in TEXT_STEPS:
            return [Reply("error.use_buttons"), *self._ask(state)]
        return self._text(state, event)

    def _someone_else(self, state: State, event: Event) -> bool:
        """An identified conversation answers only the Telegram account bound to its borrower:
        in a group chat (one conversation, many people) nobody else may read or act on it."""
        return state.borrower_id is not None and self.services.borrower_for_user(event.user_id) != state.borrower_id

    # ------------------------------------------------------------------ commands

    def _command(self, state: State, event: Event) -> list[Reply]:
        name, arg = event.command
        if name == "/start":
            return self._start(state, event, arg)
        if name == "/help":
            return [Reply("help"), *self._ask(state)]
        if name == "/cancel":
            if state.step != "paused":
                state.paused_at, state.step = state.step, "paused"
            return [Reply("cancelled")]
        if name == "/back":
            return self._back(state)
        if name == "/language":
            return [self._menu(state, "choose_language", [[Button(f"lang_{loc}", f"lang:{loc}")] for loc in LOCALES])]
        if name == "/human":
            return self._person(state, event, "asked")
        if name in ("/plan", "/schedule", "/paid"):
            return self._plan_command(state, name)
        return [Reply("error.unknown_command"), *self._ask(state)]

    def _start(self, state: State, event: Event, token: str) -> list[Reply]:
        locale = state.locale
        borrower = state.borrower_id
        state.__init__(locale=locale, borrower_id=borrower)  # begin again; identity kept
        if token:
            loan_id, why = self.services.invite_loan(token)
            if loan_id is None:
                self.services.audit("invite_refused", chat_id=event.chat_id, reason=why)
                return [Reply(f"invite_{why}"), *self._ask(state)]
            state.invite_token, state.invite_loan = token, loan_id
        return [Reply("welcome"), *self._ask(state)]

    def _back(self, state: State) -> list[Reply]:
        if not state.history or state.step in ("done", "consent"):
            return [Reply("error.cannot_go_back"), *self._ask(state)]
        state.step = state.history.pop()
        state.editing = False
        return self._ask(state)

    def _person(self, state: State, event: Event, why: str) -> list[Reply]:
        """The borrower asks for a person: a ticket opens and the dialogue pauses."""
        is_open, opens_at = self.services.support_hours()
        return [Reply("person_requested", {"open": is_open, "opens_at": opens_at}),
                *self._handoff(state, why)]

    def _handoff(self, state: State, why: str) -> list[Reply]:
        """Pause at the current step and send the support team a card about this chat."""
        state.person_from = state.step if state.step != "paused" else (state.paused_at or "consent")
        state.step = "with_person"
        state.needs_person = True
        state.menu += 1
        state.offered = []
        self.services.audit("person_requested", borrower_id=state.borrower_id,
                            loan_id=state.loan_id, reason=why, step=state.person_from)
        return [Reply("handoff.card", {"reason": why, "step": state.person_from}, audience="support")]

    def _while_with_person(self, state: State, event: Event) -> list[Reply]:
        """A person has the conversation: what the borrower writes goes to them."""
        if event.kind == "command" and event.command[0] == "/help":
            return [Reply("help"), Reply("with_person_wait")]
        if event.kind == "text":
            return [Reply("handoff.relay", {"text": piece, "step": state.person_from}, audience="support")
                    for piece in pieces(event.text)]
        return [Reply("with_person_wait")]

    def back_from_person(self, state: State) -> list[Reply]:
        """The agent closed the ticket: continue where the borrower left off."""
        if state.step != "with_person":
            return []
        state.step = state.person_from or "consent"
        state.person_from = None
        state.needs_person = False
        return [Reply("person_closed"), *self._ask(state)]

    # ------------------------------------------------------------------ buttons and text

    def _button(self, state: State, event: Event) -> list[Reply]:
        menu, _, payload = event.text.partition(":")
        if menu != str(state.menu):
            return [Reply("stale_menu"), *self._ask(state)]
        if payload not in state.offered:
            self.services.audit("forged_callback", chat_id=event.chat_id, borrower_id=state.borrower_id,
                                payload=payload[:64], step=state.step)
            return [Reply("stale_menu"), *self._ask(state)]
        action, _, value = payload.partition(":")
        handler = getattr(self, f"_press_{action}", None)
        return handler(state, event, value) if handler else self._ask(state)

    def _text(self, state: State, event: Event) -> list[Reply]:
        handler = getattr(self, "_on_" + ("expense" if state.step.startswith("expense:") else state.step))
        try:
            return handler(state, event, event.text)
        except InputError as error:
            state.input_errors += 1
            replies = [Reply(error.key, dict(error.params)), *self._ask(state)]
            if state.input_errors >= ERRORS_BEFORE_OFFERING_PERSON:
                replies.append(self._menu(state, "offer_person", [[Button("person", "person:errors")]]))
            return replies

    # ------------------------------------------------------------------ moving between steps

    def _go(self, state: State, step: str) -> list[Reply]:
        if step != state.step and state.step not in ("paused",):
            state.history.append(state.step)
            del state.history[:-30]
            state.input_errors = 0
        state.step = step
        return self._ask(state)

    def _advance(self, state: State) -> list[Reply]:
        return self._go(state, next_step(state, state.step))

    def _menu(self, state: State, key: str, buttons: list[list[Button]], data: dict[str, Any] | None = None,
              **extra: Any) -> Reply:
        """A reply with a fresh menu: older buttons become stale, only these are valid."""
        state.menu += 1
        state.offered = [button.payload for row in buttons for button in row]
        return Reply(key, data or {}, [[Button(b.key, f"{state.menu}:{b.payload}", b.params) for b in row]
                                       for row in buttons], **extra)

    def _ask(self, state: State) -> list[Reply]:
        step = state.step
        asker = getattr(self, "_ask_" + ("expense" if step.startswith("expense:") else step))
        return asker(state)

    def _prompt(self, state: State, key: str, **data: Any) -> list[Reply]:
        """A free-text question; the menu is reset so no old button is live."""
        state.menu += 1
        state.offered = []
        return [Reply(key, data)]

    # ------------------------------------------------------------------ consent & identity

    def _ask_consent(self, state: State) -> list[Reply]:
        return [self._menu(state, "consent", [[Button("agree", "consent:yes"), Button("decline", "consent:no")]])]

    def _press_consent(self, state: State, event: Event, value: str) -> list[Reply]:
        if value != "yes":
            self.services.audit("consent_declined", chat_id=event.chat_id)
            state.step = "consent"
            return [Reply("consent_declined")]
        state.consented = True
        self.services.audit("consent_given", chat_id=event.chat_id)
        return self._identify(state, event)

    def _identify(self, state: State, event: Event) -> list[Reply]:
        borrower = self.services.borrower_for_user(event.user_id)
        if borrower is not None:
            state.borrower_id = borrower
            return self._go(state, "loan")
        if self._locked(state, event):
            return [Reply("identify_locked")]
        return self._go(state, "identify_contact" if state.invite_loan else "identify_loan")

    def _locked(self, state: State, event: Event) -> bool:
        return self.services.failed_identifications(event.chat_id) >= MAX_FAILURES

    def _ask_identify_contact(self, state: State) -> list[Reply]:
        state.menu += 1
        state.offered = []
        return [Reply("identify_contact", request_contact=True)]

    def _on_contact(self, state: State, event: Event) -> list[Reply]:
        if state.step != "identify_contact":
            return [Reply("error.use_buttons"), *self._ask(state)]
        if self._locked(state, event):
            return [Reply("identify_locked")]
        if self.services.invite_loan(state.invite_token)[0] != state.invite_loan:
            return self._invite_gone(state, event)
        own = event.contact_user_id == event.user_id
        borrower = self.services.match_contact(state.invite_loan, event.contact_phone) if own else None
        if borrower is None:
            return self._failed(state, event, "identify_contact_mismatch" if own else "identify_not_own_contact")
        self.services.redeem_invite(state.invite_token, event.chat_id)
        return self._verified(state, event, borrower, state.invite_loan)

    def _invite_gone(self, state: State, event: Event) -> list[Reply]:
        """The invitation expired (or was used) since /start: identify by loan number instead."""
        _, why = self.services.invite_loan(state.invite_token)
        self.services.audit("invite_refused", chat_id=event.chat_id, reason=why, step=state.step)
        state.invite_token = state.invite_loan = None
        return [Reply(f"invite_{why}"), *self._go(state, "identify_loan")]

    def _ask_identify_loan(self, state: State) -> list[Reply]:
        return self._prompt(state, "identify_loan")

    def _on_identify_loan(self, state: State, event: Event, text: str) -> list[Reply]:
        state.typed_loan = parse_loan_number(text)
        return self._go(state, "identify_id")

    def _ask_identify_id(self, state: State) -> list[Reply]:
        return self._prompt(state, "identify_id")

    def _on_identify_id(self, state: State, event: Event, text: str) -> list[Reply]:
        if self._locked(state, event) or (
                state.typed_loan and self.services.failed_identifications_for_loan(state.typed_loan) >= MAX_LOAN_FAILURES):
            self.services.audit("identification_locked", chat_id=event.chat_id, loan_id=state.typed_loan)
            return [Reply("identify_locked")]
        last4 = parse_id_last4(text)
        borrower = self.services.match_id(state.typed_loan, last4) if state.typed_loan else None
        if borrower is None:
            state.step = "identify_loan"
            return self._failed(state, event, "identify_mismatch")
        return self._verified(state, event, borrower, state.typed_loan)

    def _failed(self, state: State, event: Event, key: str) -> list[Reply]:
        self.services.record_identification(event.chat_id, False, state.typed_loan or state.invite_loan)
        self.services.audit("identification_failed", chat_id=event.chat_id, step=state.step)
        if self._locked(state, event):
            return [Reply("identify_locked")]
        left = MAX_FAILURES - self.services.failed_identifications(event.chat_id)
        return [Reply(key, {"attempts_left": left}), *self._ask(state)]

    def _verified(self, state: State, event: Event, borrower: int, loan_id: str) -> list[Reply]:
        if not self.services.bind(borrower, event.user_id, event.chat_id):
            # Counted as a failure: the answer tells this account the details were right, so
            # the lockout must limit how often it can be asked.
            self.services.record_identification(event.chat_id, False)
            self.services.audit("second_account_refused", chat_id=event.chat_id, borrower_id=borrower)
            return [Reply("identify_other_account")]
        self.services.record_identification(event.chat_id, True)
        self.services.audit("identified", chat_id=event.chat_id, borrower_id=borrower, loan_id=loan_id)
        state.borrower_id, state.loan_id = borrower, loan_id
        state.history.clear()
        return self._go(state, "loan")

    # ------------------------------------------------------------------ the loan

    def _loans(self, state: State) -> list[Loan]:
        return self.services.loans(state.borrower_id) if state.borrower_id is not None else []

    def _loan(self, state: State) -> Loan | None:
        return next((loan for loan in self._loans(state) if loan.loan_id == state.loan_id), None)

    def _ask_loan(self, state: State) -> list[Reply]:
        loans = self._loans(state)
        if state.loan_id is None and len(loans) == 1:
            state.loan_id = loans[0].loan_id
        loan = self._loan(state)
        if loan is None:
            if not loans:
                return [Reply("no_loans")]
            buttons = [[Button("loan", f"loan:{l.loan_id}", {"loan_id": l.loan_id})] for l in loans]
            return [self._menu(state, "choose_loan", buttons, {"loans": [loan_view(l) for l in loans]})]
        buttons = [[Button("continue", "loan:continue")]]
        if len(loans) > 1:
            buttons.append([Button("other_loan", "loan:other")])
        return [self._menu(state, "loan_overview", buttons, {"loan": loan_view(loan)})]

    def _press_loan(self, state: State, event: Event, value: str) -> list[Reply]:
        if value == "continue":
            return self._advance(state)
        if value == "other":
            state.loan_id = None
            return self._ask(state)
        state.loan_id = value
        return self._ask(state)

    # ------------------------------------------------------------------ the borrower's situation

    def _ask_reason(self, state: State) -> list[Reply]:
        reasons = list(HardshipReason)
        rows = [[Button(f"reason_{r.value}", f"reason:{r.value}") for r in reasons[i:i + 2]]
                for i in range(0, len(reasons), 2)]
        return [self._menu(state, "ask_reason", rows)]

    def _press_reason(self, state: State, event: Event, value: str) -> list[Reply]:
        state.data.reason = HardshipReason(value)
        return self._advance(state)

    def _ask_reason_text(self, state: State) -> list[Reply]:
        return self._prompt(state, "ask_reason_text")

    def _on_reason_text(self, state: State, event: Event, text: str) -> list[Reply]:
        state.data.reason_text = parse_text(text)
        return self._advance(state)

    def _ask_outlook(self, state: State) -> list[Reply]:
        return [self._menu(state, "ask_outlook", [[Button(f"outlook_{o.value}", f"outlook:{o.value}")] for o in Outlook])]

    def _press_outlook(self, state: State, event: Event, value: str) -> list[Reply]:
        state.data.outlook = Outlook(value)
        return self._advance(state)

    def _ask_recovery(self, state: State) -> list[Reply]:
        return self._prompt(state, "ask_recovery")

    def _on_recovery(self, state: State, event: Event, text: str) -> list[Reply]:
        state.data.recovery_months = parse_count(text, low=0, high=60)
        return self._advance(state)

    def _ask_income_after(self, state: State) -> list[Reply]:
        return self._prompt(state, "ask_income_after")

    def _on_income_after(self, state: State, event: Event, text: str) -> list[Reply]:
        state.data.income_after = parse_amount(text)
        return self._advance(state)

    def _ask_income(self, state: State) -> list[Reply]:
        return self._prompt(state, "ask_income")

    def _on_income(self, state: State, event: Event, text: str) -> list[Reply]:
        state.data.income = parse_amount(text)
        return self._advance(state)

    def _ask_income_kind(self, state: State) -> list[Reply]:
        kinds = list(IncomeKind)
        rows = [[Button(f"income_{k.value}", f"kind:{k.value}") for k in kinds[i:i + 2]] for i in range(0, len(kinds), 2)]
        return [self._menu(state, "ask_income_kind", rows)]

    def _press_kind(self, state: State, event: Event, value: str) -> list[Reply]:
        state.data.income_kind = IncomeKind(value)
        return self._advance(state)

    def _ask_high_months(self, state: State) -> list[Reply]:
        return self._prompt(state, "ask_high_months")

    def _on_high_months(self, state: State, event: Event, text: str) -> list[Reply]:
        state.data.high_months = parse_months(text)
        return self._advance(state)

    def _ask_high_income(self, state: State) -> list[Reply]:
        return self._prompt(state, "ask_high_income", months=state.data.high_months or [])

    def _on_high_income(self, state: State, event: Event, text: str) -> list[Reply]:
        state.data.high_income = parse_amount(text, allow_zero=False)
        return self._advance(state)

    def _ask_expenses_mode(self, state: State) -> list[Reply]:
        return [self._menu(state, "ask_expenses_mode", [[Button("expenses_total", "expmode:total")],
                                                        [Button("expenses_items", "expmode:items")]])]

    def _press_expmode(self, state: State, event: Event, value: str) -> list[Reply]:
        state.data.expenses_itemised = value == "items"
        return self._advance(state)

    def _ask_expenses_total(self, state: State) -> list[Reply]:
        return self._prompt(state, "ask_expenses_total")

    def _on_expenses_total(self, state: State, event: Event, text: str) -> list[Reply]:
        state.data.expenses_total = parse_amount(text)
        return self._advance(state)

    def _ask_expense(self, state: State) -> list[Reply]:
        category = state.step.split(":", 1)[1]
        return self._prompt(state, "ask_expense_item", category=category)

    def _on_expense(self, state: State, event: Event, text: str) -> list[Reply]:
        category = ExpenseCategory(state.step.split(":", 1)[1])
        state.data.expenses[category] = parse_amount(text)
        return self._advance(state)

    def _ask_other_debts(self, state: State) -> list[Reply]:
        return self._prompt(state, "ask_other_debts")

    def _on_other_debts(self, state: State, event: Event, text: str) -> list[Reply]:
        state.data.other_debts = parse_amount(text)
        return self._advance(state)

    def _ask_savings(self, state: State) -> list[Reply]:
        return self._prompt(state, "ask_savings")

    def _on_savings(self, state: State, event: Event, text: str) -> list[Reply]:
        state.data.savings = parse_amount(text)
        return self._advance(state)

    def _ask_dependants(self, state: State) -> list[Reply]:
        return self._prompt(state, "ask_dependants")

    def _on_dependants(self, state: State, event: Event, text: str) -> list[Reply]:
        state.data.dependants = parse_count(text, low=0, high=20)
        return self._advance(state)

    # ------------------------------------------------------------------ review and budget

    def _ask_review(self, state: State) -> list[Reply]:
        self.services.audit("finances_given", borrower_id=state.borrower_id, loan_id=state.loan_id)
        rows = [[Button(f"edit_{group}", f"edit:{group}")] for group in EDITABLE]
        rows.append([Button("looks_right", "review:ok")])
        finances = finances_from(state.data)
        data = {"data": state.data.model_dump(), "essential_total": finances.essential_total,
                "currency": self._currency(state)}
        return [self._menu(state, "review", rows, data)]

    def _press_edit(self, state: State, event: Event, group: str) -> list[Reply]:
        state.editing = True
        return self._go(state, FIRST_OF_GROUP[group])

    def _press_review(self, state: State, event: Event, value: str) -> list[Reply]:
        return self._advance(state)

    def _currency(self, state: State) -> str:
        loan = self._loan(state)
        return loan.currency if loan else "CNY"

    def _ask_budget(self, state: State) -> list[Reply]:
        finances = finances_from(state.data)
        data = {
            "currency": self._currency(state),
            "income": finances.monthly_income,
            "essentials": finances.essential_total,
            "other_debts": finances.other_debt_payments,
            "left": finances.disposable_income,
            "tips": self._tips(state),
        }
        return [self._menu(state, "budget", [[Button("see_options", "budget:ok")]], data)]

    def _tips(self, state: State) -> list[dict[str, Any]]:
        """Categories 50% or more above the policy's guideline: the guideline is for one adult,
        and food and household grows by `per_dependant` for each dependant."""
        guide = self.services.policy.budget_guidelines
        if not state.data.expenses_itemised or not guide:
            return []
        per_dependant = guide.get("per_dependant", Decimal(0)) * (state.data.dependants or 0)
        tips = []
        for category, amount in state.data.expenses.items():
            if category.value not in guide:
                continue
            allowed = guide[category.value] + (per_dependant if category is ExpenseCategory.food else 0)
            if amount > allowed * Decimal("1.5"):
                tips.append({"category": category.value, "amount": amount, "guideline": allowed})
        return tips

    def _press_budget(self, state: State, event: Event, value: str) -> list[Reply]:
        return self._go(state, "options")

    # ------------------------------------------------------------------ options

    def _case(self, state: State) -> Case:
        """The engine's case for these answers, as of the day the options were first shown
        (so confirming a day later records the plan the borrower saw)."""
        if state.quote_as_of is None:
            state.quote_as_of = self.services.now().date()
        return case_from(self._loan(state), state.data, state.quote_as_of)

    def _custom(self, state: State) -> Option | None:
        if not state.custom:
            return None
        months = state.custom.get("months")
        amount = state.custom.get("amount")
        return custom_quote(self._case(state), self.services.policy,
                            monthly_amount=Decimal(amount) if amount else None,
                            months=int(months) if months else None)

    def _offered_option(self, state: State, option_id: str) -> Option | None:
        if option_id in state.options:
            return offered_option(self._case(state), self.services.policy, option_id)
        custom = self._custom(state)
        return custom if custom is not None and custom.option_id == option_id else None

    def _ask_options(self, state: State) -> list[Reply]:
        state.quote_as_of = None  # answers may have changed: quote afresh
        result = quote(self._case(state), self.services.policy)
        state.options = [o.option_id for o in result.options]
        views = [option_view(o, n) for n, o in enumerate(result.options, 1)]
        rows = [[Button("choose", f"choose:{o.option_id}", {"n": n}), Button("details", f"details:{o.option_id}", {"n": n})]
                for n, o in enumerate(result.options, 1) if o.affordable]
        rows.append([Button("custom", "custom:ask")])
        rows.append([Button("person", "person:options")])
        self.services.audit("options_shown", borrower_id=state.borrower_id, loan_id=state.loan_id,
                            options=state.options, any_affordable=result.any_affordable)
        data = {"options": views, "recommended": result.recommended, "currency": result.currency,
                "shortfall": result.monthly_shortfall, "affordable_payment": result.affordable_payment,
                "any_affordable": result.any_affordable,
                "reasons": [{"key": r.key, "params": r.params} for r in result.recommended_reasons]}
        if "replan_limit_reached" in result.flags:
            return self._replan_limit(state)
        if result.status == "needs_approval":
            # Plans fit the budget but a lender rule bars them: a person, not "nothing fits".
            self.services.audit("needs_approval", borrower_id=state.borrower_id, loan_id=state.loan_id,
                                blocked_by=result.blocked_by)
            return [Reply("needs_approval"), *self._handoff(state, "needs_approval")]
        if not result.any_affordable:
            self.services.audit("no_affordable_plan", borrower_id=state.borrower_id, loan_id=state.loan_id,
                                shortfall=str(result.monthly_shortfall))
        return [self._menu(state, "options" if result.any_affordable else "no_affordable", rows, data)]

    def _replan_limit(self, state: State) -> list[Reply]:
        """No more new plans are allowed this year: a person takes the case."""
        plan = self._active_plan(state)
        if plan is not None:
            self.services.break_plan(plan["id"], "replan_limit")
        state.step = "done"
        return [Reply("replan_limit"), *self._handoff(state, "replan_limit")]

    def _press_details(self, state: State, event: Event, option_id: str) -> list[Reply]:
        option = self._offered_option(state, option_id)
        if option is None:
            return [Reply("stale_menu"), *self._go(state, "options")]
        rows = [[Button("choose_this", f"choose:{option_id}")], [Button("back_to_options", "options:back")]]
        data = option_data(option)
        return [self._menu(state, "option_details", rows, data)]

    def _press_options(self, state: State, event: Event, value: str) -> list[Reply]:
        state.step = "options"
        return self._ask(state)

    def _press_custom(self, state: State, event: Event, value: str) -> list[Reply]:
        return self._go(state, "custom_amount")

    def _ask_custom_amount(self, state: State) -> list[Reply]:
        return self._prompt(state, "ask_custom_amount", currency=self._currency(state))

    def _on_custom(self, state: State, event: Event, text: str) -> list[Reply]:
        amount = parse_amount(text, allow_zero=False)
        previous = state.custom
        state.custom = {"amount": str(amount)}
        try:
            option = self._custom(state)
        except NoPlanPossible as error:
            state.custom = previous
            return [Reply(f"error.{error.key}", {**error.params, "currency": self._currency(state)}),
                    *self._ask(state)]
        rows = [[Button("choose_this", f"choose:{option.option_id}")], [Button("back_to_options", "options:back")]]
        data = option_data(option)
        state.step = "options"
        return [self._menu(state, "option_details", rows, data)]

    _on_custom_amount = _on_custom

    def _press_person(self, state: State, event: Event, value: str) -> list[Reply]:
        return self._person(state, event, value or "button")

    # ------------------------------------------------------------------ confirm and record

    def _terms(self, state: State, option: Option) -> tuple[str, dict[str, Any]]:
        loan = self._loan(state)
        return "confirm_terms", {**option_data(option), "loan": loan_view(loan)}

    def _press_choose(self, state: State, event: Event, option_id: str) -> list[Reply]:
        state.chosen = option_id
        return self._ask_confirm(state)

    def _ask_confirm(self, state: State) -> list[Reply]:
        option = self._offered_option(state, state.chosen) if state.chosen else None
        if option is None:
            return [Reply("stale_menu"), *self._go(state, "options")]
        option_id = option.option_id
        state.step = "confirm"
        key, data = self._terms(state, option)
        rows = [[Button("i_agree", f"agree:{option_id}")], [Button("back_to_options", "options:back")]]
        return [self._menu(state, key, rows, data)]

    def _press_agree(self, state: State, event: Event, option_id: str) -> list[Reply]:
        option = self._offered_option(state, option_id)
        if option is None or option_id != state.chosen:
            return [Reply("stale_menu"), *self._ask(state)]
        key, data = self._terms(state, option)
        text = self.services.render(state.locale, key, **data)
        state.plan_id = self.services.save_plan(
            loan_id=state.loan_id, borrower_id=state.borrower_id, option=option, consent_text=text,
            user_id=event.user_id, update_id=event.update_id,
        )
        state.step = "done"
        state.menu += 1
        state.offered = []
        return [Reply("plan_recorded", {**option_data(option), "plan_id": state.plan_id})]

    def _ask_done(self, state: State) -> list[Reply]:
        return [Reply("already_agreed", {"plan_id": state.plan_id})]

    # ------------------------------------------------------------------ after the agreement

    def _active_plan(self, state: State) -> dict[str, Any] | None:
        return self.services.active_plan(state.borrower_id) if state.borrower_id is not None else None

    def _plan_command(self, state: State, name: str) -> list[Reply]:
        plan = self._active_plan(state)
        if plan is None:
            return [Reply("no_plan"), *self._ask(state)]
        if name == "/plan":
            return [Reply("plan_summary", {"plan": plan})]
        if name == "/schedule":
            shown = {**plan, "instalments": shorten(plan["instalments"])}
            return [Reply("plan_schedule", {"plan": shown, "plan_id": plan["id"]}, attachments=("chart", "calendar"))]
        return self._start_paid(state)

    def checkin(self, state: State, plan_id: int, number: int) -> list[Reply]:
        """A missed instalment: ask what happened (sent by the reminder dispatcher)."""
        plan = self._active_plan(state)
        if plan is None or plan["id"] != plan_id:
            return []
        if state.step not in ("checkin", "paused"):
            state.return_step = state.step
        state.step = "checkin"
        instalment = next((i for i in plan["instalments"] if i["number"] == number), None)
        rows = [[Button("checkin_paid", "checkin:paid")], [Button("checkin_change", "checkin:change")],
                [Button("person", "person:checkin")]]
        return [self._menu(state, "checkin", rows, {"plan": plan, "instalment": instalment})]

    def _ask_checkin(self, state: State) -> list[Reply]:
        plan = self._active_plan(state)
        missed = [i for i in plan["instalments"] if i["status"] == "missed"] if plan else []
        if not missed:
            state.step = "done"
            return self._ask(state)
        return self.checkin(state, plan["id"], missed[0]["number"])

    def _press_checkin(self, state: State, event: Event, value: str) -> list[Reply]:
        if value == "paid":
            return self._start_paid(state)
        self.services.audit("replan_started", chat_id=event.chat_id, borrower_id=state.borrower_id,
                            loan_id=state.loan_id)
        state.chosen, state.custom, state.quote_as_of = None, None, None
        return [Reply("replan_intro"), *self._go(state, "review")]

    def _start_paid(self, state: State) -> list[Reply]:
        if state.step not in ("paid_amount", "paid_date"):
            state.return_step = state.step if state.step != "checkin" else "done"
        state.step = "paid_amount"
        return self._ask(state)

    def _ask_paid_amount(self, state: State) -> list[Reply]:
        return self._prompt(state, "ask_paid_amount")

    def _on_paid_amount(self, state: State, event: Event, text: str) -> list[Reply]:
        state.reported_amount = parse_amount(text, allow_zero=False)
        state.step = "paid_date"
        return self._ask(state)

    def _ask_paid_date(self, state: State) -> list[Reply]:
        rows = [[Button("paid_today", "paidon:0"), Button("paid_yesterday", "paidon:1")]]
        return [self._menu(state, "ask_paid_date", rows)]

    def _press_paidon(self, state: State, event: Event, value: str) -> list[Reply]:
        return self._reported(state, self.services.now().date() - timedelta(days=int(value)))

    def _on_paid_date(self, state: State, event: Event, text: str) -> list[Reply]:
        return self._reported(state, parse_day(text, today=self.services.now().date()))

    def _reported(self, state: State, paid_on: date) -> list[Reply]:
        plan = self._active_plan(state)
        if plan is None:
            state.step = state.return_step or "done"
            return [Reply("no_plan")]
        self.services.report_payment(plan["id"], state.reported_amount, paid_on)
        amount, state.reported_amount = state.reported_amount, None
        state.step = state.return_step or "done"
        state.menu += 1
        state.offered = []
        return [Reply("paid_reported", {"amount": amount, "paid_on": paid_on, "currency": plan["currency"]})]

    # ------------------------------------------------------------------ language

    def _press_lang(self, state: State, event: Event, value: str) -> list[Reply]:
        state.locale = value
        return [Reply("language_set"), *self._ask(state)]

    def _ask_paused(self, state: State) -> list[Reply]:
        return [Reply("cancelled")]

