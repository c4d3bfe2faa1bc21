"""The borrower's conversation as one ordered table of steps: `TABLE`.

    consent -> identify (invite + shared contact | loan number + ID last 4) -> loan
    -> reason [-> reason_text] -> outlook [-> recovery -> income_after]
    -> income -> income_kind [-> high_months -> high_income] -> payment_day
    -> expenses_mode -> (expenses_total | one step per expense category)
    -> other_debts -> savings -> dependants -> review -> budget
    -> options (details, "I can pay X a month", a person) [-> above_budget] -> confirm -> done
    off the path: custom_amount, checkin, paid_amount, paid_date, with_person, paused

Each `Row` declares one step: the message key that asks, the input it takes (a typed answer
with its parser, buttons from an enum or a function, or named handlers), the group the review's
"edit" re-asks, when it applies, and what happens on success. A plain question needs nothing
else: its answer is saved where `saves` says (the answers model, `Collected`, is made from these
rows), answers of steps that no longer apply are cleared, and the conversation moves to the next
row on the path that applies (`next_step`; while editing, back to the review at the end of the
group). Identification, the loan, the budget, the options, confirming, the check-in, reporting a
payment and the hand-off to a person are named handlers (`dialogs.identify`, `dialogs.offers`,
`dialogs.aftercare`, `dialogs.person`) listed in the same rows. `dialogs.machine` runs the table:
transitions and their audit events happen there, in `Dialogue.go`; showing a step never writes.

Adding a question: a `Step` member and a `Row` here, its keys in `locales/*/messages.toml`
(and, if the engine uses the answer, the field of `plans.models.Finances` it fills: `engine=`).

Import order: this table names the handlers, and the handler modules name steps. They import
this module, not its names (`steps.Step.options`, read when a handler runs), so it can import
them first; `dialogs/__init__.py` loads this module before any of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum, StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from dialogs import aftercare, identify, offers, person
from dialogs.answers import Answers, answers_model, review_data
from dialogs.model import Button, Event, Reply
from dialogs.parsing import parse_amount, parse_count, parse_day_of_month, parse_months, parse_text
from plans.models import ExpenseCategory, Finances, HardshipReason, IncomeKind, Outlook

if TYPE_CHECKING:
    from dialogs.machine import Dialogue
    from dialogs.state import State


class Step(StrEnum):
    consent = "consent"
    identify_contact = "identify_contact"
    identify_loan = "identify_loan"
    identify_id = "identify_id"
    loan = "loan"
    reason = "reason"
    reason_text = "reason_text"
    outlook = "outlook"
    recovery = "recovery"
    income_after = "income_after"
    income = "income"
    income_kind = "income_kind"
    high_months = "high_months"
    high_income = "high_income"
    payment_day = "payment_day"
    expenses_mode = "expenses_mode"
    expenses_total = "expenses_total"
    expense_housing = "expense:housing"
    expense_food = "expense:food"
    expense_utilities_transport = "expense:utilities_transport"
    expense_children = "expense:children"
    expense_medical = "expense:medical"
    expense_other = "expense:other"
    other_debts = "other_debts"
    savings = "savings"
    dependants = "dependants"
    review = "review"
    budget = "budget"
    options = "options"
    above_budget = "above_budget"
    confirm = "confirm"
    done = "done"
    custom_amount = "custom_amount"
    checkin = "checkin"
    paid_amount = "paid_amount"
    paid_date = "paid_date"
    with_person = "with_person"
    paused = "paused"


NEXT = "next:"  # the payload of a button that moves on to the next step
BACK_TO_OPTIONS = Button("back_to_options", f"back:{Step.options.value}")


# ---------------------------------------------------------------------------- kinds of input


@dataclass(frozen=True)
class Typed:
    """A typed answer: `parse(text, dialogue)` gives the value or raises `InputError`.
    `type` is the value's type (the answers model's field); `example` a valid answer (tests
    walk the table with it); `low`/`high` the bounds of a count, `allow_zero` of an amount.
    A row's `menu` may offer buttons that answer for the borrower: `pick:<text>` is parsed
    as if typed."""

    parse: Callable[[str, Dialogue], Any]
    type: Any
    example: str
    low: int | None = None
    high: int | None = None
    allow_zero: bool = True


def amount(*, allow_zero: bool = True, example: str = "3000") -> Typed:
    return Typed(lambda text, _: parse_amount(text, allow_zero=allow_zero), Decimal, example, allow_zero=allow_zero)


def count_of(model: type[BaseModel], name: str, example: str = "1") -> Typed:
    """A whole number within the bounds the engine's model sets for `name` (one definition)."""
    bounds = {type(item).__name__: item for item in model.model_fields[name].metadata}
    low, high = bounds["Ge"].ge, bounds["Le"].le
    return Typed(lambda text, _: parse_count(text, low=low, high=high), int, example, low=low, high=high)


def months(example: str = "6-8") -> Typed:
    return Typed(lambda text, _: parse_months(text), list[int], example)


def day_of_month(example: str = "15") -> Typed:
    """A day of the month within the policy's `[payment_days]` (read when the answer comes)."""

    def parse(text: str, dialogue: Dialogue) -> int:
        days = dialogue.services.policy.payment_days
        return parse_day_of_month(text, low=days.earliest, high=days.latest)

    return Typed(parse, int, example)


def sentence(example: str = "My shop closed") -> Typed:
    return Typed(lambda text, _: parse_text(text), str, example)


@dataclass(frozen=True)
class Choice:
    """Buttons, one per value (`values(dialogue, state)` -> [(value, label key, params)]); the
    press is saved as `convert(value)`."""

    values: Callable[[Dialogue, State], list[tuple[str, str, dict[str, Any]]]]
    convert: Callable[[str], Any]
    type: Any
    per_row: int = 1

    @classmethod
    def of(cls, enum: type[Enum], label: str, per_row: int = 1) -> Choice:
        """A button per member of `enum`, labelled `btn.<label with the value>`."""
        return cls(lambda d, s: [(m.value, label.format(m.value), {}) for m in enum], enum, enum, per_row)

    @classmethod
    def mapping(cls, options: Mapping[str, Any], label: str, per_row: int = 1) -> Choice:
        """A button per key of `options`, saved as its value."""
        kind = type(next(iter(options.values())))
        return cls(lambda d, s: [(key, label.format(key), {}) for key in options], options.__getitem__, kind, per_row)

    def buttons(self, dialogue: Dialogue, state: State) -> list[list[Button]]:
        found = [Button(label, f"pick:{value}", params) for value, label, params in self.values(dialogue, state)]
        return [found[i : i + self.per_row] for i in range(0, len(found), self.per_row)]


def links(*buttons: tuple[str, str], per_row: int = 1) -> Callable[[Dialogue, State], list[list[Button]]]:
    """A fixed menu: (label key, payload) per button."""
    found = [Button(label, payload) for label, payload in buttons]
    return lambda d, s: [found[i : i + per_row] for i in range(0, len(found), per_row)]


def always(state: State) -> bool:
    return True


# ---------------------------------------------------------------------------- the row


@dataclass(frozen=True)
class Row:
    """One step. Rows on the path (`flow`) follow each other in table order; a row whose
    `when(state)` is false is skipped and its saved answer cleared."""

    step: Step
    key: str | None = None  # the message that asks (`show` builds the replies when it is None)
    group: str | None = None  # the answers the review's "edit <group>" re-asks
    when: Callable[[State], bool] = always
    flow: bool = True  # on the borrower's path; off-path steps are entered by a button or command
    answer: Typed | Choice | None = None  # a plain question's input
    saves: str | None = None  # where `answer` is kept in the answers: a field, or "field.key"
    engine: str | None = None  # the `plans.models.Finances` field the answer fills as it is
    data: Callable[[Dialogue, State], dict[str, Any]] | None = None  # the template data of `key`
    menu: Callable[[Dialogue, State], list[list[Button]]] | None = None  # buttons of `key`
    contact: bool = False  # `key` asks to share the phone number (Telegram's contact button)
    show: Callable[[Dialogue, State], list[Reply]] | None = None  # named handler that shows the step
    enter: Callable[[Dialogue, State], list[Reply] | None] | None = None  # runs when a transition enters the step
    audit: str | None = None  # audit event written when a transition enters the step
    on_text: Callable[[Dialogue, State, Event, str], list[Reply]] | None = None  # named handler of typed text
    # action -> named handler of a button press
    on_press: Mapping[str, Callable[[Dialogue, State, Event, str], list[Reply]]] = field(default_factory=dict)
    on_contact: Callable[[Dialogue, State, Event], list[Reply]] | None = None
    leads_to: tuple[Step, ...] = ()  # where its event handlers move to, besides the next step on the path
    keeps: tuple[str, ...] = ()  # the state `on_text` changes (path), for the tests of hostile input
    example: str | None = None  # a valid text for `on_text` (tests walk the table with it)

    def __post_init__(self) -> None:
        """What `dialogs.machine` relies on: a step it shows itself has a message key, and a
        plain question says where its answer is kept."""
        if self.key is None and self.show is None:
            raise ValueError(f"step {self.step}: a row needs a message key or a `show` handler")
        if self.answer is not None and self.saves is None:
            raise ValueError(f"step {self.step}: a row with an answer needs `saves`")

    @property
    def takes_text(self) -> bool:
        return isinstance(self.answer, Typed) or self.on_text is not None

    @property
    def kept_at(self) -> tuple[str, ...]:
        """Where this step's typed answer ends up in the saved state."""
        if self.saves:
            return ("data", *self.saves.split("."))
        return self.keeps

    @property
    def text_example(self) -> str | None:
        return self.answer.example if isinstance(self.answer, Typed) else self.example


# ---------------------------------------------------------------------------- the table


def _not_identified(state: State) -> bool:
    return state.borrower_id is None


def _itemised(state: State) -> bool:
    return state.data.expenses_itemised is True


def _expects_change(state: State) -> bool:
    return state.data.outlook is not Outlook.lasting


def _seasonal(state: State) -> bool:
    return state.data.income_kind is IncomeKind.seasonal


#: Paydays offered as buttons (those the policy allows); any allowed day may be typed.
COMMON_PAYDAYS = (1, 5, 10, 15, 20, 25)


def _payment_days(d: Dialogue, state: State) -> dict[str, Any]:
    days = d.services.policy.payment_days
    loan = d.loan(state)
    return {"earliest": days.earliest, "latest": days.latest, "now": loan.next_due_date.day if loan else None}


def _payday_buttons(d: Dialogue, state: State) -> list[list[Button]]:
    """The loan's due day ("as now") on a row of its own if the policy allows it, then the
    common paydays it allows, three a row; any allowed day may be typed instead."""
    days = d.services.policy.payment_days
    loan = d.loan(state)
    now = loan.next_due_date.day if loan and days.allows(loan.next_due_date.day) else None
    common = [
        Button("payday", f"pick:{day}", {"day": day}) for day in COMMON_PAYDAYS if days.allows(day) and day != now
    ]
    rows = [common[i : i + 3] for i in range(0, len(common), 3)]
    return [[Button("payday_now", f"pick:{now}", {"day": now})], *rows] if now else rows


def _expense_item(category: ExpenseCategory) -> Row:
    return Row(
        Step(f"expense:{category.value}"),
        "ask_expense_item",
        group="expenses",
        when=_itemised,
        answer=amount(example="500"),
        saves=f"expenses.{category.value}",
        data=lambda d, s: {"category": category.value},
    )


# A table: each row reads as one step (as the README quotes it), so the formatter leaves it be.
# fmt: off
TABLE: tuple[Row, ...] = (
    # -- who is this: privacy notice, identification, the loan ----------------------------
    Row(Step.consent, "consent", menu=links(("agree", "consent:yes"), ("decline", "consent:no"), per_row=2),
        on_press={"consent": identify.consent}),
    Row(Step.identify_contact, "identify_contact", contact=True,
        when=lambda s: _not_identified(s) and s.contact_loan is not None,
        on_contact=identify.shared_contact, leads_to=(Step.identify_loan,)),
    Row(Step.identify_loan, "identify_loan", when=lambda s: _not_identified(s) and s.contact_loan is None,
        on_text=identify.loan_number, keeps=("typed_loan",)),
    Row(Step.identify_id, "identify_id", when=lambda s: _not_identified(s) and s.contact_loan is None,
        on_text=identify.id_digits, keeps=("typed_loan",), leads_to=(Step.identify_loan, Step.identify_contact)),
    Row(Step.loan, enter=identify.only_loan, show=identify.show_loan, on_press={"loan": identify.pick_loan}),
    # -- the borrower's situation: plain questions ----------------------------------------
    Row(Step.reason, "ask_reason", group="reason", answer=Choice.of(HardshipReason, "reason_{}", per_row=2),
        saves="reason", engine="hardship_reason"),
    Row(Step.reason_text, "ask_reason_text", group="reason", when=lambda s: s.data.reason is HardshipReason.other,
        answer=sentence(), saves="reason_text"),
    Row(Step.outlook, "ask_outlook", group="reason", answer=Choice.of(Outlook, "outlook_{}"), saves="outlook",
        engine="outlook"),
    Row(Step.recovery, "ask_recovery", group="reason", when=_expects_change,
        answer=count_of(Finances, "expected_recovery_months", example="4"), saves="recovery_months"),
    Row(Step.income_after, "ask_income_after", group="reason", when=_expects_change,
        answer=amount(example="12000"), saves="income_after"),
    Row(Step.income, "ask_income", group="income", answer=amount(example="9000"), saves="income",
        engine="monthly_income"),
    Row(Step.income_kind, "ask_income_kind", group="income", answer=Choice.of(IncomeKind, "income_{}", per_row=2),
        saves="income_kind", engine="income_kind"),
    Row(Step.high_months, "ask_high_months", group="income", when=_seasonal, answer=months(), saves="high_months"),
    Row(Step.high_income, "ask_high_income", group="income", when=_seasonal,
        answer=amount(allow_zero=False, example="15000"), saves="high_income",
        data=lambda d, s: {"months": s.data.high_months or []}),
    Row(Step.payment_day, "ask_payment_day", group="payment_day", answer=day_of_month(), saves="payment_day",
        engine="payment_day", data=lambda d, s: _payment_days(d, s), menu=lambda d, s: _payday_buttons(d, s)),
    Row(Step.expenses_mode, "ask_expenses_mode", group="expenses",
        answer=Choice.mapping({"total": False, "items": True}, "expenses_{}"), saves="expenses_itemised"),
    Row(Step.expenses_total, "ask_expenses_total", group="expenses", when=lambda s: s.data.expenses_itemised is False,
        answer=amount(example="5200"), saves="expenses_total"),
    *(_expense_item(category) for category in ExpenseCategory),
    Row(Step.other_debts, "ask_other_debts", group="other_debts", answer=amount(example="800"), saves="other_debts",
        engine="other_debt_payments"),
    Row(Step.savings, "ask_savings", group="savings", answer=amount(), saves="savings", engine="savings_available"),
    Row(Step.dependants, "ask_dependants", group="dependants", answer=count_of(Finances, "dependants"),
        saves="dependants", engine="dependants"),
    # -- what it adds up to, and the plans -------------------------------------------------
    Row(Step.review, "review", data=lambda d, s: review_data(s.data, d.currency(s)),
        menu=lambda d, s: [*([Button(f"edit_{g}", f"edit:{g}")] for g in EDITABLE), [Button("looks_right", NEXT)]],
        on_press={"edit": lambda d, s, e, group: d.edit(s, group)}),
    Row(Step.budget, show=offers.show_budget, audit="finances_given"),
    Row(Step.options, enter=offers.quote_options, show=offers.show_options,
        on_press={"choose": offers.choose, "details": offers.details, "custom": offers.ask_custom},
        leads_to=(Step.custom_amount, Step.above_budget)),
    Row(Step.above_budget, when=offers.own_plan_over_budget, show=offers.show_above_budget,
        on_press={"sure": offers.sure, "custom": offers.ask_custom}, leads_to=(Step.confirm, Step.custom_amount)),
    Row(Step.confirm, when=lambda s: s.chosen is not None, show=offers.show_terms, on_press={"agree": offers.agree},
        leads_to=(Step.options,)),
    Row(Step.done, "already_agreed", when=lambda s: s.plan_id is not None, data=lambda d, s: {"plan_id": s.plan_id}),
    # -- off the path -----------------------------------------------------------------------
    Row(Step.custom_amount, "ask_custom_amount", flow=False, data=lambda d, s: {"currency": d.currency(s)},
        menu=lambda d, s: [[BACK_TO_OPTIONS], [Button("person", "person:custom")]],
        on_text=offers.custom_amount, keeps=("custom",), example="5000", leads_to=(Step.options,)),
    Row(Step.checkin, flow=False, show=aftercare.show_checkin, on_press={"checkin": aftercare.checkin_answer},
        leads_to=(Step.paid_amount, Step.review)),
    Row(Step.paid_amount, "ask_paid_amount", flow=False, on_text=aftercare.paid_amount, keeps=("reported_amount",),
        example="500", leads_to=(Step.paid_date,)),
    Row(Step.paid_date, "ask_paid_date", flow=False, on_text=aftercare.paid_date,
        menu=links(("paid_today", "paidon:0"), ("paid_yesterday", "paidon:1"), per_row=2),
        on_press={"paidon": aftercare.paid_on}, keeps=("reported_amount",), example="today"),
    Row(Step.with_person, flow=False, show=person.show_waiting, on_text=person.relay, example="Please call me",
        on_press={"leave": person.leave}),
    Row(Step.paused, "cancelled", flow=False),
)
# fmt: on

ROWS: dict[Step, Row] = {row.step: row for row in TABLE}
PATH: list[Row] = [row for row in TABLE if row.flow]
#: The groups of answers the review offers to edit, in the order they are asked.
EDITABLE: list[str] = list(dict.fromkeys(row.group for row in PATH if row.group))
#: The borrower's answers: one optional field per plain question, made from the rows (see
#: `dialogs.answers.Answers`: mypy cannot see fields made at import, so it checks the base).
if TYPE_CHECKING:
    Collected = Answers
else:
    Collected = answers_model(TABLE)


def first_of_group(group: str) -> Step:
    return next(row.step for row in PATH if row.group == group)


def next_step(state: State, current: Step) -> Step:
    """The step after `current` on the path that applies; while editing, the review at the
    end of the edited group."""
    steps = [row.step for row in PATH]
    index = steps.index(current) if current in steps else -1
    group = ROWS[current].group
    for row in PATH[index + 1 :]:
        if state.editing and row.group != group:
            state.editing = False
            return Step.review
        if row.when(state):
            return row.step
    return Step.done
