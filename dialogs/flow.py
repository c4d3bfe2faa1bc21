"""The borrower's path as one readable table: the steps in order, when a step applies, and
which group of answers it belongs to (an "edit" from the review re-asks a group, then returns
to the review).

    consent -> identify (invite + contact | loan number + ID last 4) -> loan
    -> reason [-> reason_text] -> outlook [-> recovery -> income_after]
    -> income -> income_kind [-> high_months -> high_income]
    -> expenses_mode -> (expenses_total | expense items) -> other_debts -> savings -> dependants
    -> review -> budget -> options (details, "I can pay X", talk to a person) -> confirm -> done
"""
from __future__ import annotations

from collections.abc import Callable

from dialogs.model import State
from plans.models import ExpenseCategory, HardshipReason, IncomeKind, Outlook

EXPENSE_CATEGORIES = list(ExpenseCategory)

#: (step, group, applies?) in order. Identification steps are reached by their own rules.
FLOW: list[tuple[str, str, Callable[[State], bool]]] = [
    ("loan", "loan", lambda s: True),
    ("reason", "reason", lambda s: True),
    ("reason_text", "reason", lambda s: s.data.reason is HardshipReason.other),
    ("outlook", "reason", lambda s: True),
    ("recovery", "reason", lambda s: s.data.outlook is not Outlook.lasting),
    ("income_after", "reason", lambda s: s.data.outlook is not Outlook.lasting),
    ("income", "income", lambda s: True),
    ("income_kind", "income", lambda s: True),
    ("high_months", "income", lambda s: s.data.income_kind is IncomeKind.seasonal),
    ("high_income", "income", lambda s: s.data.income_kind is IncomeKind.seasonal),
    ("expenses_mode", "expenses", lambda s: True),
    ("expenses_total", "expenses", lambda s: s.data.expenses_itemised is False),
    *[
        (f"expense:{category.value}", "expenses", lambda s: s.data.expenses_itemised is True)
        for category in EXPENSE_CATEGORIES
    ],
    ("other_debts", "other_debts", lambda s: True),
    ("savings", "savings", lambda s: True),
    ("dependants", "dependants", lambda s: True),
    ("review", "review", lambda s: True),
    ("budget", "budget", lambda s: True),
    ("options", "options", lambda s: True),
]

GROUPS = {step: group for step, group, _ in FLOW}
EDITABLE = ["reason", "income", "expenses", "other_debts", "savings", "dependants"]
FIRST_OF_GROUP = {group: next(step for step, g, _ in FLOW if g == group) for group in EDITABLE}


def next_step(state: State, current: str) -> str:
    """The step after `current` that applies; while editing, back to the review at the end
    of the edited group."""
    names = [step for step, _, _ in FLOW]
    index = names.index(current) if current in names else -1
    for step, group, applies in FLOW[index + 1 :]:
        if state.editing and group != GROUPS.get(current):
            state.editing = False
            return "review"
        if applies(state):
            return step
    return "options"
