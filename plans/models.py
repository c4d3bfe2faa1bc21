"""Typed inputs and outputs of the plan engine.

Inputs (`Loan`, `Finances`) validate on construction and name the field at fault. Amounts are
`Decimal` built from strings or integers; a float is refused so no binary rounding can creep
in. Outputs (`Option`, `Quote`) are frozen records the conversation, the CLI and storage read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from enum import StrEnum
from operator import attrgetter
from types import MemberDescriptorType
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from plans.errors import CaseError
from plans.money import ZERO, in_minor_units, minor_places, minor_unit

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def _no_float(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("give amounts as strings or integers, not floats")
    return value


#: Decimal text that Python's `Decimal` and pydantic read alike: digits, at most one point
#: (group 1: the places after it).
_PLAIN_DECIMAL = re.compile(r"[0-9]{1,30}(?:\.([0-9]{1,30}))?")
_DECIMAL = TypeAdapter(Decimal)


def _decimal(value: Any) -> Decimal:
    """A Decimal as pydantic reads one (its messages included), never from a float. Plain
    text such as `12345.67` is read directly; pydantic gets the rest."""
    if type(value) is str and _PLAIN_DECIMAL.fullmatch(value):
        return Decimal(value)
    try:
        return _DECIMAL.validate_python(_no_float(value))
    except ValidationError as exc:
        error = exc.errors()[0]
        raise PydanticCustomError(error["type"], error["msg"]) from None  # (no context: the message as it is)


def _amount(value: Any) -> Decimal:
    """An amount: a Decimal (see `_decimal`), not negative."""
    amount = _decimal(value)
    if amount < 0:
        raise ValueError("must not be negative")
    return amount


def _owed(value: Any, info: ValidationInfo) -> Decimal:
    """An amount owed on a loan: an `Amount` that is also payable, no finer than the minor
    unit of the loan's currency (validated before the amounts).

    Plain validators, not wrapping ones, and plain text told by its looks: a loan file
    validates six amounts a row, a million rows at a time (bench/imports.py). Text such as
    `12345.67` is not negative, and payable when its places fit the currency's; anything
    else (`1.500`, `2E-2`, an int) takes the general path. A property test holds both paths
    to pydantic's own reading of decimals (tests/test_plans_edges.py)."""
    currency = info.data.get("currency")
    if type(value) is str and currency and (plain := _PLAIN_DECIMAL.fullmatch(value)):
        places = plain.group(1)
        if places is None or len(places) <= minor_places(currency):
            return Decimal(value)
    amount = _amount(value)
    if currency and not in_minor_units(amount, currency):
        raise ValueError(f"has more decimal places than {currency} allows")
    return amount


Amount = Annotated[Decimal, PlainValidator(_amount)]
Owed = Annotated[Decimal, PlainValidator(_owed)]
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
    outstanding_principal: Owed
    overdue_principal: Owed
    overdue_interest: Owed = ZERO
    penalty_fees: Owed = ZERO
    #: arrears carried from an earlier plan (its kept penalties, uncapitalised interest):
    #: repaid interest-free and not waived again (see `plans.payments.loan_left_by_plan`)
    carried_fees: Owed = ZERO
    annual_rate: Rate
    monthly_payment: Owed
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
        return self.principal + self.overdue_interest + self.penalty_fees + self.carried_fees

    @model_validator(mode="after")
    def _something_owed(self) -> Loan:
        if self.total_owed <= 0:
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
    #: the day of the month the borrower wants to pay on (their payday), within the policy's
    #: `payment_days`; None keeps the contract's due day
    payment_day: int | None = Field(default=None, ge=1, le=31)

    @property
    def essential_total(self) -> Decimal:
        if isinstance(self.essential_expenses, dict):
            return sum(self.essential_expenses.values(), ZERO)
        return self.essential_expenses

    @property
    def disposable_income(self) -> Decimal:
        """Income left after essentials and other debts (may be negative)."""
        return self.monthly_income - self.essential_total - self.other_debt_payments

    @property
    def income_later(self) -> Decimal | None:
        """The income expected after the change the borrower told us of ("in about N months"
        it will be ...); None when they expect none."""
        return self.income_after_recovery if self.expected_recovery_months > 0 else None

    @property
    def income_changes(self) -> bool:
        """Whether the borrower expects their income to change ("in about N months")."""
        return self.income_later is not None


class Case(_Input):
    """One quote request: the date it is made, the loan, and what the borrower told us."""

    as_of: date
    loan: Loan
    finances: Finances

    @classmethod
    def from_mapping(cls, data: Any) -> Case:
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


def slot_descriptors(record: type[DataclassInstance]) -> dict[str, MemberDescriptorType]:
    """The slots of a slotted dataclass by field name, in field order. `slot.__set__(obj,
    value)` fills a field of a new frozen record without its __init__, which assigns each
    field through object.__setattr__ and costs several times as much: for the few records the
    engine makes by the thousand (`Row`, the copies of `Option` that ranking adds reasons to)."""
    return {item.name: vars(record)[item.name] for item in fields(record)}


@dataclass(frozen=True, slots=True)
class Row:
    """One scheduled payment. `fees` are carried arrears (kept penalties, uncapitalised
    overdue interest, fees carried from an earlier plan) repaid without interest; `balance` is
    what is still owed after it. A month with nothing to pay is never a row (see `Pause`)."""

    number: int
    due_date: date
    payment: Decimal
    principal: Decimal
    interest: Decimal
    fees: Decimal
    balance: Decimal
    kind: str = "instalment"  # "down_payment", "instalment", "settlement"


@dataclass(frozen=True, slots=True)
class Pause:
    """Due dates with nothing to pay (a payment holiday, a seasonal plan's low season): no
    instalment, so nothing to remind of or to miss. `interest` says what happened to interest
    meanwhile: "frozen" (none accrued) or "capitalised" (`capitalised` was added to the
    principal, and the first instalment after the pause charges one period of interest)."""

    first_date: date
    last_date: date
    months: int
    interest: str
    capitalised: Decimal


@dataclass(frozen=True, slots=True)
class Available:
    """What one month leaves for this loan, and how it is worked out: the one definition the
    budget, the options and "nothing fits" all use.

        disposable   = income - essentials - other_debts
        reserve      = min_left + per_dependant x dependants
        available    = max(0, min(disposable x share, disposable - reserve)),
                       rounded down to the currency's minor unit
    `limited_by` names the binding rule: "share", "reserve" or "no_disposable_income"."""

    income: Decimal
    essentials: Decimal
    other_debts: Decimal
    disposable: Decimal
    share: Decimal
    by_share: Decimal
    min_left: Decimal
    per_dependant: Decimal
    dependants: int
    reserve: Decimal
    after_reserve: Decimal
    available: Decimal
    limited_by: str


@dataclass(frozen=True, slots=True)
class MonthFit:
    """One calendar month of a plan against the budget: what falls due in it, the savings
    used for it, what is left to pay from that month's income (`due - savings_used`), the
    amount available, and the gap (`to_pay - available`; > 0 means it does not fit)."""

    month: str  # "YYYY-MM"
    due: Decimal
    savings_used: Decimal
    to_pay: Decimal
    available: Decimal
    gap: Decimal


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


def regular_payments(payments: Sequence[tuple[str, Decimal]]) -> list[Decimal]:
    """The regular payments of a schedule given in order as (kind, amount): every payment but
    a down payment (a schedule that is only a down payment: that one). The one definition the
    chat, the stored plan, the reports and the quote CLI use."""
    return [amount for kind, amount in payments if kind != "down_payment"] or [a for _, a in payments]


def regular_range(payments: Sequence[tuple[str, Decimal]], currency: str) -> tuple[Decimal, Decimal]:
    """(lowest, highest) of the `regular_payments`. The last payment counts too, unless it
    differs from the one before by no more than the rounding residue it carries (one minor
    unit per payment at most): "CN¥2,382.30 a month" then, with the last one (CN¥2,382.21)
    stated on its own."""
    amounts = regular_payments(payments)
    *before, last = amounts
    if before and abs(last - before[-1]) <= minor_unit(currency) * len(amounts):
        amounts = before
    return min(amounts), max(amounts)


@dataclass(frozen=True, slots=True)
class Option:
    """One restructuring offer with its schedule and an honest statement of its cost.

    What is repaid before interest (`restructured_balance`) is the interest-bearing
    `restructured_principal` (principal + `interest_capitalised`, the overdue interest added
    to it) plus the interest-free `carried_fees` (`penalties_kept`, overdue interest not
    capitalised, `fees_from_earlier_plan`). `penalties_waived + penalties_kept` is the loan's
    penalty fees; `penalties_kept_paid` says where the kept part goes ("interest_free_payments":
    spread over the payments without interest; "settlement": in the lump sum; "none").
    `pause_interest` is interest capitalised during pauses (`total_interest` includes it).
    `tightest` is the month with the least room to spare (`shortfall` = its gap when > 0)."""

    option_id: str
    structure: Structure
    parameters: dict[str, str]
    currency: str
    schedule: list[Row]
    pauses: list[Pause]
    plan_rate: Decimal
    restructured_balance: Decimal
    restructured_principal: Decimal
    carried_fees: Decimal
    down_payment: Decimal
    interest_capitalised: Decimal
    overdue_interest_carried: Decimal
    fees_from_earlier_plan: Decimal
    interest_waived: Decimal
    penalties_waived: Decimal
    penalties_kept: Decimal
    penalties_kept_paid: str
    principal_waived: Decimal
    pause_interest: Decimal
    total_repayable: Decimal
    total_interest: Decimal
    apr: Decimal
    effective_annual_rate: Decimal
    affordability_ratio: Decimal | None
    affordable: bool
    shortfall: Decimal
    tightest: MonthFit
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
    def failed_checks(self) -> list[Check]:
        return [check for check in self.checks if not check.passed]

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


class QuoteStatus(StrEnum):
    ok = "ok"  # at least one lawful plan fits the budget: `recommended` is one
    needs_approval = "needs_approval"  # plans fit, but a lender rule (`blocked_by`) bars them
    nothing_fits = "nothing_fits"  # no plan fits the budget: `monthly_shortfall` > 0


@dataclass(frozen=True, slots=True)
class Quote:
    """The engine's answer: ranked options, the recommendation and, if nothing fits, why.

    `budget` is what is available each month now, with its parts (`budget_later`: after the
    expected change of income; `budget_high_season`: in the high-income months). When the
    status is `nothing_fits`, `closest` is the tightest month of the closest option and
    `monthly_shortfall` its gap; when it is `needs_approval`, `for_approval` holds the plans
    that fit but break `blocked_by` (check names such as "apr_cap", "replan_limit").
    `flag_reasons` gives each flag's reason: Reason(flag, {"because": ...})."""

    as_of: date
    loan_id: str
    currency: str
    status: QuoteStatus
    payment_day: int
    disposable_income: Decimal
    affordable_payment: Decimal
    budget: Available
    budget_later: Available | None
    budget_high_season: Available | None
    options: list[Option]
    recommended: str | None
    recommended_because: Reason | None
    recommended_reasons: list[Reason]
    any_affordable: bool
    monthly_shortfall: Decimal
    closest: MonthFit | None
    blocked_by: list[str]
    for_approval: list[Option]
    flags: list[str]
    flag_reasons: list[Reason]

    def option(self, option_id: str) -> Option | None:
        return next((o for o in self.options if o.option_id == option_id), None)
