"""The borrower's answers: one definition, three uses.

`answers_model(rows)` makes the answers model (`dialogs.steps.Collected`) from the step table:
one optional field per plain question, or a dict for questions that save "field.key" (the
expense items). `finances_from` turns the answers into the engine's `Finances`: fields a row
maps one to one (`engine=`) as they are, plus the three the engine reads differently (seasonal
income, essential spending, an expected change of income). `review_data` and `budget_data` are
what the review and the budget screens show; `summary` is the same for the support console.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from types import GenericAlias
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, create_model

from dialogs.views import budget_view
from plans.dates import add_months
from plans.engine import budget_of
from plans.models import (
    Available,
    Case,
    ExpenseCategory,
    Finances,
    IncomeKind,
    Loan,
    Outlook,
    SeasonalIncome,
)
from plans.policy import Policy

if TYPE_CHECKING:
    from dialogs.steps import Row

#: Categories the budget screen never suggests cutting: nobody should be nudged to spend less
#: on medicine or their children to qualify for a plan.
NEVER_TIPPED = {ExpenseCategory.medical, ExpenseCategory.children}


class Answers(BaseModel):
    """Base of the answers model, `dialogs.steps.Collected`, which `answers_model` makes from
    the step table: each row that `saves` an answer is its one definition (name and type), so
    a new question touches no list of fields. `engine_fields` maps an answer to the
    `plans.models.Finances` field it fills as it is.

    Typing: fields made at import are invisible to mypy, so for the type checker every other
    attribute of the answers reads as `Any` (the `__getattr__` below exists only for it; at run
    time pydantic's own attribute access applies, and a name that is no field raises
    `AttributeError`). A hand-written class of the same fields would type them, but it would be
    a second definition that every new question must also change; what the answers hold is
    checked instead where they come from (each row's parser) and by pydantic when a saved
    conversation is read back."""

    engine_fields: ClassVar[dict[str, str]] = {}

    if TYPE_CHECKING:

        def __getattr__(self, name: str) -> Any: ...


def answers_model(rows: Iterable[Row]) -> type[Answers]:
    """One optional field per answer a row `saves` (None until asked), or a dict for answers
    saved as "field.key" (the expense items). Raises ValueError when two rows save one answer
    as different types."""
    fields: dict[str, Any] = {}
    engine: dict[str, str] = {}
    for row in rows:
        if row.saves is None or row.answer is None:
            continue
        name, _, key = row.saves.partition(".")
        kind = row.answer.type
        wanted: tuple[Any, Any] = (GenericAlias(dict, (str, kind)), {}) if key else (kind | None, None)
        if fields.setdefault(name, wanted) != wanted:
            raise ValueError(f"step {row.step}: answer {name!r} is saved by another step as another type")
        if row.engine:
            engine[name] = row.engine
    model = create_model(
        "Collected", __base__=Answers, __doc__="The borrower's answers; each None until asked.", **fields
    )
    model.engine_fields = engine
    return model


def finances_from(data: Answers) -> Finances:
    given = {
        target: getattr(data, name) for name, target in data.engine_fields.items() if getattr(data, name) is not None
    }
    given.setdefault("monthly_income", Decimal(0))
    seasonal = None
    if data.income_kind is IncomeKind.seasonal and data.high_months and data.high_income:
        seasonal = SeasonalIncome(months=data.high_months, monthly_income=data.high_income)
    recovering = data.outlook is not Outlook.lasting and bool(data.recovery_months)
    return Finances(
        **given,
        high_income_months=seasonal,
        essential_expenses=essential_expenses(data),
        expected_recovery_months=data.recovery_months if recovering else 0,
        income_after_recovery=data.income_after if recovering else None,
    )


def essential_expenses(data: Answers) -> Decimal | dict[ExpenseCategory, Decimal]:
    if data.expenses_itemised:
        return {ExpenseCategory(category): value for category, value in data.expenses.items()}
    return data.expenses_total or Decimal(0)


def case_from(loan: Loan, data: Answers, as_of: date) -> Case:
    return Case(as_of=as_of, loan=loan, finances=finances_from(data))


def review_data(data: Answers, currency: str) -> dict[str, Any]:
    return {"data": data.model_dump(), "essential_total": finances_from(data).essential_total, "currency": currency}


def budget_data(data: Answers, loan: Loan, as_of: date, policy: Policy) -> dict[str, Any]:
    """The budget screen: what each month leaves for this loan, by the engine's one definition
    (`plans.engine.budget_of`, the figures every option is held to), with its parts."""
    case = case_from(loan, data, as_of)
    budget = budget_of(case, policy)
    return {
        "currency": loan.currency,
        "budget": budget_view_of(case, budget.now, budget.later, budget.high_season),
        "tips": _tips(data, policy),
    }


def budget_view_of(
    case: Case, now: Available, later: Available | None, high_season: Available | None
) -> dict[str, Any]:
    """`dialogs.views.budget_view` for a case: the month its income changes (dated from the
    case's day, as the engine dates it) and its high-income months."""
    finances = case.finances
    change = add_months(case.as_of.replace(day=1), finances.expected_recovery_months) if later else None
    high = finances.high_income_months.months if finances.high_income_months else []
    return budget_view(now, later, high_season, change_month=change, high_months=sorted(high))


def _tips(data: Answers, policy: Policy) -> list[dict[str, Any]]:
    """Categories 50% or more above the policy's guideline, as a neutral reference: the
    guideline is for one adult, food grows by `per_dependant` for each dependant."""
    guide = policy.budget_guidelines
    if not data.expenses_itemised or not guide:
        return []
    per_dependant = guide.get("per_dependant", Decimal(0)) * (data.dependants or 0)
    tips = []
    for name, spent in data.expenses.items():
        category = ExpenseCategory(name)
        if category in NEVER_TIPPED or name not in guide:
            continue
        usual = guide[name] + (per_dependant if category is ExpenseCategory.food else 0)
        if spent > usual * Decimal("1.5"):
            tips.append({"category": name, "amount": spent, "guideline": usual})
    return tips


def summary(data: Answers, currency: str | None) -> dict[str, Any]:
    """The answers as the support console shows them: each answer (None if not given), the
    essential spending in total, what is left each month once income and spending are known,
    and whether anything was answered at all."""
    answers = data.model_dump()
    finances = finances_from(data)
    unknown = data.expenses_itemised is None or (not data.expenses_itemised and data.expenses_total is None)
    spending = None if unknown else finances.essential_total
    known = data.income is not None and spending is not None and data.other_debts is not None
    return {
        **answers,
        "currency": currency,
        "expenses_total": spending,
        "left": finances.disposable_income if known else None,
        "any": any(value not in (None, {}, []) for value in answers.values()),
    }
