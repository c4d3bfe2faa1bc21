"""The engine's front door: `quote(case, policy)`, `offered_option(...)` and `custom_quote(...)`.

A quote builds every structure the product's policy allows that applies to this borrower,
ranks them (`plans.ranking`) and, when none is affordable, says so: the closest option, the
monthly shortfall, and flags that suggest a hardship review or a person.
"""
from __future__ import annotations

from decimal import Decimal

from plans.context import Context
from plans.models import Case, HardshipReason, Option, Quote, split_option_id
from plans.money import ZERO, quantize
from plans.policy import Policy
from plans.ranking import rank, recommendation_reasons
from plans.structures import BUILDERS, custom


def build_options(case: Case, policy: Policy) -> list[Option]:
    ctx = Context(case, policy)
    options = []
    for structure in ctx.rules.structures:
        builder = BUILDERS.get(structure)
        option = builder(ctx) if builder else None
        if option is not None:
            options.append(option)
    return options


def quote(case: Case, policy: Policy) -> Quote:
    ctx = Context(case, policy)
    ranked = rank(build_options(case, policy))
    affordable = [o for o in ranked if o.affordable]
    recommended = affordable[0] if affordable else None
    shortfall = ZERO if affordable or not ranked else min(o.shortfall for o in ranked)
    return Quote(
        as_of=case.as_of,
        loan_id=case.loan.loan_id,
        currency=case.loan.currency,
        disposable_income=case.finances.disposable_income,
        affordable_payment=quantize(ctx.budget.affordable_now, case.loan.currency),
        options=ranked if affordable else sorted(ranked, key=lambda o: o.shortfall),
        recommended=recommended.option_id if recommended else None,
        recommended_reasons=recommendation_reasons(recommended) if recommended else [],
        any_affordable=bool(affordable),
        monthly_shortfall=quantize(shortfall, case.loan.currency),
        flags=_flags(ctx, bool(affordable)),
    )


def offered_option(case: Case, policy: Policy, option_id: str) -> Option | None:
    """Option `option_id` of `quote(case, policy)`, built alone: confirming and recording a
    borrower's choice needs that one structure, not all of them built and ranked again (and
    no memory of earlier quotes). Equal to the quoted option but for the comparative reasons
    ranking adds ("lowest_monthly"...). None if the case no longer gives that option."""
    parts = split_option_id(option_id)
    if parts is None:
        return None
    structure = parts[0]
    ctx = Context(case, policy)
    if structure not in ctx.rules.structures or structure not in BUILDERS:
        return None
    option = BUILDERS[structure](ctx)
    return option if option is not None and option.option_id == option_id and option.compliant else None


def custom_quote(case: Case, policy: Policy, *, monthly_amount: Decimal | None = None,
                 months: int | None = None) -> Option:
    return custom(Context(case, policy), monthly_amount=monthly_amount, months=months)


def _flags(ctx: Context, any_affordable: bool) -> list[str]:
    flags = []
    if not any_affordable:
        flags += ["no_affordable_plan", "hardship_review", "offer_person"]
    if ctx.case.finances.disposable_income <= 0:
        flags.append("no_disposable_income")
    if ctx.case.loan.prior_restructures >= ctx.policy.replan_limit_12m:
        flags += ["replan_limit_reached", "offer_person"]
    if ctx.case.finances.hardship_reason is HardshipReason.over_indebted:
        flags.append("debt_advice")
    return list(dict.fromkeys(flags))
