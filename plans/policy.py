"""The lender's policy: what may be offered, for which product, at what cost.

A policy is a TOML file validated by pydantic; `load_policy` turns any mistake into one
`PolicyError` naming the file, the key and the reason. `default_policy()` is the one shipped
with the package (`plans/default_policy.toml`), a sensible start for a Chinese lender.
"""

from __future__ import annotations

import tomllib
from datetime import time
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from plans.errors import PolicyError
from plans.models import HardshipReason, Product, Structure

Share = Annotated[Decimal, Field(ge=0, le=1)]
Money = Annotated[Decimal, Field(ge=0)]

DEFAULT_POLICY_PATH = Path(__file__).with_name("default_policy.toml")

#: Chinese rules: a personalised credit-card instalment agreement lasts at most five years.
CN_CREDIT_CARD_MAX_MONTHS = 60


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProductPolicy(_Section):
    max_term_months: int = Field(ge=1, le=480)
    min_installment: Money
    structures: list[Structure] = Field(min_length=1)
    interest: Literal["keep", "reduce", "freeze"] = "keep"
    floor_rate: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0")
    capitalise_overdue_interest: bool = True
    freeze_min_down_payment: Share = Decimal("0.10")
    settlement_max_discount: Share = Decimal("0.30")
    settlement_min_share: Share = Decimal("0.60")
    holiday_max_months: int = Field(default=3, ge=0, le=24)
    #: interest during a payment holiday: "freeze" (none accrues) or "capitalise" (it accrues
    #: and is added to what is owed; the first instalment after the pause charges one period)
    holiday_interest: Literal["freeze", "capitalise"] = "capitalise"
    step_max_ratio: Annotated[Decimal, Field(ge=1, le=10)] = Decimal("3")
    #: a seasonal plan's high-season payment may be at most this many times its low-season one
    #: (a low season whose budget is below the minimum instalment pays nothing)
    seasonal_max_ratio: Annotated[Decimal, Field(ge=1, le=100)] = Decimal("10")


class Affordability(_Section):
    """What a month leaves for the loan (`plans.budget.Available`): at most this share of
    disposable income, and never less left over than `min_income_left` plus
    `min_left_per_dependant` for each dependant."""

    max_share_of_disposable: Share = Decimal("0.80")
    min_income_left: Money = Decimal("0")
    min_left_per_dependant: Money = Decimal("300")


class PaymentDays(_Section):
    """The days of the month a borrower may choose for their payments (their payday)."""

    earliest: int = Field(default=1, ge=1, le=31)
    latest: int = Field(default=28, ge=1, le=31)

    def allows(self, day: int) -> bool:
        return self.earliest <= day <= self.latest

    @model_validator(mode="after")
    def _ordered(self) -> PaymentDays:
        if self.earliest > self.latest:
            raise ValueError("payment_days.earliest must not be after payment_days.latest")
        return self


class Recommendation(_Section):
    """Which affordable plan is recommended. "borrower": the one that costs the borrower
    least, when it is cheaper than the lender's favourite (the best score: present value x
    completion likelihood) by more than `clearly_cheaper` of the favourite's total;
    "lender": always the favourite."""

    prefer: Literal["borrower", "lender"] = "borrower"
    clearly_cheaper: Share = Decimal("0.01")


class PenaltyWaiver(_Section):
    default: Share = Decimal("0.5")
    by_reason: dict[HardshipReason, Share] = Field(default_factory=dict)

    def share_for(self, reason: HardshipReason) -> Decimal:
        return self.by_reason.get(reason, self.default)


class Reminders(_Section):
    """When borrowers are reminded: days before a due date (0 = on the day), days after an
    unpaid one, at a local time of day and never inside quiet hours. An instalment still
    unpaid `grace_days` after its due date is missed; `misses_before_broken` misses break
    the plan."""

    days_before: list[Annotated[int, Field(ge=0, le=30)]] = Field(default_factory=lambda: [3, 0])
    days_after: list[Annotated[int, Field(ge=1, le=30)]] = Field(default_factory=lambda: [1])
    send_time: time = time(10, 0)
    quiet_start: time = time(21, 0)
    quiet_end: time = time(9, 0)
    grace_days: int = Field(default=3, ge=0, le=60)
    misses_before_broken: int = Field(default=2, ge=1, le=12)

    def is_quiet(self, moment: time) -> bool:
        """Whether a local time of day falls in quiet hours (which may span midnight)."""
        if self.quiet_start <= self.quiet_end:
            return self.quiet_start <= moment < self.quiet_end
        return moment >= self.quiet_start or moment < self.quiet_end

    @model_validator(mode="after")
    def _send_time_not_quiet(self) -> Reminders:
        if self.is_quiet(self.send_time):
            raise ValueError("reminders.send_time falls inside quiet hours")
        return self


class Policy(_Section):
    name: str = "policy"
    jurisdiction: str = "CN"
    apr_cap: Annotated[Decimal, Field(gt=0, le=10)] = Decimal("0.24")
    replan_limit_12m: int = Field(default=2, ge=0, le=12)
    discount_rate: Annotated[Decimal, Field(ge=0, le=1)] = Decimal("0.08")
    first_due_min_days: int = Field(default=14, ge=0, le=90)
    down_payment_days: int = Field(default=7, ge=0, le=60)
    #: a plan whose APR would exceed the cap: "reduce_rate" brings its rate down until it
    #: does not; "needs_approval" leaves it out and says a person must approve one
    above_apr_cap: Literal["reduce_rate", "needs_approval"] = "reduce_rate"
    payment_days: PaymentDays = PaymentDays()
    recommendation: Recommendation = Recommendation()
    affordability: Affordability = Affordability()
    penalty_waiver: PenaltyWaiver = PenaltyWaiver()
    reminders: Reminders = Reminders()
    budget_guidelines: dict[str, Money] = Field(default_factory=dict)
    #: how else a borrower can reach the lender (phone, hours, web), told when nobody can
    #: answer through the chat; empty: the borrower is pointed to their statement
    contact: str = Field(default="", max_length=300)
    products: dict[Product, ProductPolicy]

    @model_validator(mode="after")
    def _lawful(self) -> Policy:
        card = self.products.get(Product.credit_card)
        if self.jurisdiction == "CN" and card and card.max_term_months > CN_CREDIT_CARD_MAX_MONTHS:
            raise ValueError(
                f"products.credit_card.max_term_months may be at most {CN_CREDIT_CARD_MAX_MONTHS} in China (5 years)"
            )
        if self.down_payment_days >= self.first_due_min_days:
            raise ValueError(
                "down_payment_days must be less than first_due_min_days "
                "(a down payment is due before the first instalment)"
            )
        return self

    def for_product(self, product: Product) -> ProductPolicy:
        try:
            return self.products[product]
        except KeyError:
            raise PolicyError(f"the policy has no [products.{product}] section") from None


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate TOML text; errors name `source`, the key path and the reason."""
    try:
        data = tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError(f"{source}: not valid TOML: {exc}") from None
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "(top level)"
            problems.append(f"{source}: {key}: {error['msg'].removeprefix('Value error, ')}")
        raise PolicyError("\n".join(problems)) from None
    mistakes = file_mistakes(policy)
    if mistakes:
        raise PolicyError("\n".join(f"{source}: {key}: {reason}" for key, reason in mistakes))
    return policy


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    """ISO 3166 country codes (CLDR's territories that have a currency)."""
    from babel import Locale
    from babel.numbers import get_territory_currencies

    return frozenset(
        code
        for code in Locale("en").territories
        if isinstance(code, str) and len(code) == 2 and code.isalpha() and get_territory_currencies(code)
    )


def file_mistakes(policy: Policy) -> list[tuple[str, str]]:
    """(key, reason) for what a policy *file* may hold that is valid on its own yet cannot be
    meant: a rate written as a percentage, a floor rate above the APR cap (nothing could be
    offered), a jurisdiction that is no country. Checked when a file is read, not on every
    Policy built in code (tests build extreme ones on purpose)."""
    mistakes = []
    if policy.apr_cap > 1:
        mistakes.append(
            (
                "apr_cap",
                f"{policy.apr_cap} would allow an APR of {policy.apr_cap * 100:f}%: rates are"
                f" fractions (0.24 is 24%); for {policy.apr_cap}% write {policy.apr_cap / 100:f}",
            )
        )
    for product, rules in policy.products.items():
        if rules.floor_rate > policy.apr_cap:
            mistakes.append(
                (
                    f"products.{product.value}.floor_rate",
                    f"{rules.floor_rate} is above apr_cap {policy.apr_cap}: no plan could be offered",
                )
            )
    if policy.jurisdiction not in _country_codes():
        mistakes.append(("jurisdiction", f"{policy.jurisdiction!r} is not a country code such as CN, HK or GB"))
    return mistakes


def load_policy(path: str | Path) -> Policy:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    return parse_policy(text, str(path))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    return load_policy(DEFAULT_POLICY_PATH)
