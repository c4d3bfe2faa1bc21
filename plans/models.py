"""Typed inputs and outputs of the plan engine.

Inputs (`Loan`, `Finances`) validate on construction and name the field at fault. Amounts are
`Decimal` built from strings or integers; a float is refused so no binary rounding can creep
in. Outputs (`Option`, `Quote`) are frozen records the conversation, the CLI and storage read.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from operator import attrgetter
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from plans.errors import CaseError
from plans.money import ZERO, minor_unit


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("give amounts as strings or integers, not floats")
    return value


def _not_negative(value: Decimal) -> Decimal:
    if value < 0:
        raise ValueError("must not be negative")
    return value


Amount = Annotated[Decimal, BeforeValidator(_no_float), AfterValidator(_not_negative)]
Rate = Annotated[Decimal, BeforeValidator(_no_float), Field(ge=0, le=10)]


class Product(StrEnum):
    credit_card = "credit_card"
    consumer_loan = "consumer_loan"
    auto_loan = "auto_loan"
    mortgage = "mortgage"


class IncomeKind(StrEnum):
    salary = "salary"
    self_employed = "self_employed"
    seasonal = "seasonal"
    pension = "pension"
    benefits = "benefits"
    none = "none"


class HardshipReason(StrEnum):
    job_loss = "job_loss"
    income_drop = "income_drop"
    illness = "illness"
    family_emergency = "family_emergency"
    business_trouble = "business_trouble"
    over_indebted = "over_indebted"
    disaster = "disaster"
    payment_issue = "payment_issue"
    other = "other"


class Outlook(StrEnum):
    temporary = "temporary"
    lasting = "lasting"
    unsure = "unsure"


class Structure(StrEnum):
    level = "level"
    equal_principal = "equal_principal"
    interest_freeze = "interest_freeze"
    step_up = "step_up"
    step_down = "step_down"
    seasonal = "seasonal"
    holiday = "holiday"
    settlement = "settlement"
    custom = "custom"


class ExpenseCategory(StrEnum):
    housing = "housing"
    food = "food"
    utilities_transport = "utilities_transport"
    children = "children"
    medical = "medical"
    other = "other"


class _Input(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)

    @classmethod
    def parse(cls, data: Any, *, prefix: str = ""):
        """Validate `data`; a failure becomes one CaseError naming the first bad field."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            field = f"{prefix}.{where}" if prefix and where else (where or prefix)
            message = first["msg"].removeprefix("Value error, ")
            raise CaseError(message, field=field) from None


class Loan(_Input):
    loan_id: str = Field(min_length=1, max_length=64)
    product: Product
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    outstanding_principal: Amount
    overdue_principal: Amount
    overdue_interest: Amount = ZERO
    penalty_fees: Amount = ZERO
    annual_rate: Rate
    monthly_payment: Amount
    remaining_term_months: int = Field(ge=0, le=600)
    days_past_due: int = Field(ge=0, le=10_000)
    next_due_date: date
    prior_restructures: int = Field(default=0, ge=0)
    on_time_payments_last_12: int | None = Field(default=None, ge=0, le=12)

    @property
    def principal(self) -> Decimal:
        return self.outstanding_principal + self.overdue_principal

    @property
    def total_owed(self) -> Decimal:
        return self.principal + self.overdue_interest + self.penalty_fees

    @field_validator(
        "outstanding_principal", "overdue_principal", "overdue_interest", "penalty_fees", "monthly_payment"
    )
    @classmethod
    def _in_minor_units(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        """An amount owed must be payable: no finer than the currency's minor unit."""
        currency = info.data.get("currency")
        if currency and value.normalize().as_tuple().exponent < minor_unit(currency).as_tuple().exponent:
            raise ValueError(f"has more decimal places than {currency} allows")
        return value

    @model_validator(mode="after")
    def _something_owed(self) -> "Loan":
        if self.principal + self.overdue_interest + self.penalty_fees <= 0:
            raise ValueError("nothing is owed on this loan")
        return self


class SeasonalIncome(_Input):
    """Calendar months (1-12) in which income is higher, and roughly what it is then."""

    months: list[Annotated[int, Field(ge=1, le=12)]] = Field(min_length=1, max_length=11)
    monthly_income: Amount


class Finances(_Input):
    monthly_income: Amount
    income_kind: IncomeKind = IncomeKind.salary
    high_income_months: SeasonalIncome | None = None
    essential_expenses: Amount | dict[ExpenseCategory, Amount] = ZERO
    other_debt_payments: Amount = ZERO
    dependants: int = Field(default=0, ge=0, le=30)
    savings_available: Amount = ZERO
    hardship_reason: HardshipReason = HardshipReason.other
    outlook: Outlook = Outlook.unsure
    expected_recovery_months: int = Field(default=0, ge=0, le=120)
    income_after_recovery: Amount | None = None

    @property
    def essential_total(self) -> Decimal:
        if isinstance(self.essential_expenses, dict):
            return sum(self.essential_expenses.values(), ZERO)
        return self.essential_expenses

    @property
    def disposable_income(self) -> Decimal:
        """Income left after essentials and other debts (may be negative)."""
        return self.monthly_income - self.essential_total - self.other_debt_payments

    def income_in(self, month_index: int, calendar_month: int) -> Decimal:
        """Expected net income in the plan's `month_index` (0-based) falling in `calendar_month`."""
        if self.income_after_recovery is not None and 0 < self.expected_recovery_months <= month_index:
            base = self.income_after_recovery
        else:
            base = self.monthly_income
        seasonal = self.high_income_months
        if seasonal is not None and calendar_month in seasonal.months:
            return max(base, seasonal.monthly_income)
        return base


class Case(_Input):
    """One quote request: the date it is made, the loan, and what the borrower told us."""

    as_of: date
    loan: Loan
    finances: Finances

    @classmethod
    def from_mapping(cls, data: Any) -> "Case":
        if not isinstance(data, dict):
            raise CaseError("the case must be a JSON object with as_of, loan and finances")
        for key in ("as_of", "loan", "finances"):
            if key not in data:
                raise CaseError("is required", field=key)
        loan = Loan.parse(data["loan"], prefix="loan")
        finances = Finances.parse(data["finances"], prefix="finances")
        extra = set(data) - {"as_of", "loan", "finances"}
        if extra:
            raise CaseError("unknown key", field=sorted(extra)[0])
        return cls.parse({"as_of": data["as_of"], "loan": loan, "finances": finances})


# ---------------------------------------------------------------- outputs
# Outputs are slotted frozen dataclasses, not pydantic models: a quote builds thousands of
# schedule rows and they are computed, not parsed, so validation would only cost time.


@dataclass(frozen=True, slots=True)
class Row:
    """One scheduled payment. `fees` are carried arrears (kept penalties, uncapitalised
    overdue interest) repaid without interest; `balance` is what is still owed after it."""

    number: int
    due_date: date
    payment: Decimal
    principal: Decimal
    interest: Decimal
    fees: Decimal
    balance: Decimal
    kind: str = "instalment"  # "down_payment", "interest_only", "instalment", "settlement"


@dataclass(frozen=True, slots=True)
class Check:
    """One compliance check with the value measured and the limit it was held to."""

    name: str
    value: str
    limit: str
    passed: bool


@dataclass(frozen=True, slots=True)
class Reason:
    """A machine-readable reason the conversation renders, e.g. fits_income_from_month{month: 7}."""

    key: str
    params: dict[str, str] = field(default_factory=dict)


_PAYMENT = attrgetter("payment")


def make_option_id(structure: Structure, instalments: int) -> str:
    """An option's id: its structure and number of instalments (``step_up-13``), so the same
    case always gives the same id and a choice can be rebuilt from it alone."""
    return f"{structure.value}-{instalments}"


def split_option_id(option_id: str) -> tuple[Structure, int] | None:
    """(structure, instalments) of an id made by `make_option_id`; None for anything else."""
    name, _, count = str(option_id).rpartition("-")
    try:
        return Structure(name), int(count)
    except ValueError:
        return None


def regular_range(payments: Sequence[tuple[str, Decimal]], currency: str) -> tuple[Decimal, Decimal]:
    """(lowest, highest) regular payment of a schedule given in order as (kind, amount): every
    payment but a down payment. The last payment counts too, unless it differs from the one
    before by no more than the rounding residue it carries (one minor unit per payment at
    most): "CN¥2,382.30 a month" then, with the last one (CN¥2,382.21) stated on its own. The
    one definition the chat, the stored plan and the reports use."""
    amounts = [amount for kind, amount in payments if kind != "down_payment"] or [a for _, a in payments]
    *before, last = amounts
    if before and abs(last - before[-1]) <= minor_unit(currency) * len(amounts):
        amounts = before
    return min(amounts), max(amounts)


@dataclass(frozen=True, slots=True)
class Option:
    """One restructuring offer with its schedule and an honest statement of its cost."""

    option_id: str
    structure: Structure
    parameters: dict[str, str]
    currency: str
    schedule: list[Row]
    plan_rate: Decimal
    restructured_principal: Decimal
    carried_fees: Decimal
    down_payment: Decimal
    interest_capitalised: Decimal
    interest_waived: Decimal
    penalties_waived: Decimal
    principal_waived: Decimal
    total_repayable: Decimal
    total_interest: Decimal
    apr: Decimal
    effective_annual_rate: Decimal
    affordability_ratio: Decimal | None
    affordable: bool
    shortfall: Decimal
    checks: list[Check]
    reasons: list[Reason]
    expected_recovery: Decimal
    recovery_present_value: Decimal
    completion_likelihood: Decimal
    score: Decimal

    @property
    def compliant(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def instalments(self) -> list[Row]:
        return [row for row in self.schedule if row.kind != "down_payment"]

    @property
    def payments(self) -> int:
        return len(self.schedule)

    @property
    def first_payment(self) -> Decimal:
        return self.schedule[0].payment

    @property
    def last_payment(self) -> Decimal:
        return self.schedule[-1].payment

    @property
    def largest_payment(self) -> Decimal:
        return max(map(_PAYMENT, self.schedule))

    @property
    def smallest_payment(self) -> Decimal:
        return min(row.payment for row in self.instalments)

    @property
    def first_due_date(self) -> date:
        return self.schedule[0].due_date

    @property
    def last_due_date(self) -> date:
        return self.schedule[-1].due_date

    @property
    def waived(self) -> Decimal:
        return self.interest_waived + self.penalties_waived + self.principal_waived

    @property
    def regular_range(self) -> tuple[Decimal, Decimal]:
        """(lowest, highest) regular monthly payment (see `regular_range`)."""
        return regular_range([(row.kind, row.payment) for row in self.schedule], self.currency)


@dataclass(frozen=True, slots=True)
class Quote:
    """The engine's answer: ranked options, the recommendation and, if nothing fits, why."""

    as_of: date
    loan_id: str
    currency: str
    disposable_income: Decimal
    affordable_payment: Decimal
    options: list[Option]
    recommended: str | None
    recommended_reasons: list[Reason]
    any_affordable: bool
    monthly_shortfall: Decimal
    flags: list[str]

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.option_id == option_id), None)
