"""The engine's front door: `quote(case, policy)`, `offered_option(...)`, `custom_quote(...)`,
`budget_of(...)` and `build_options(...)` (every structure, lawful or not, for tests and tools).

A quote builds every structure the product's policy allows that applies to this borrower,
ranks the lawful ones (`plans.ranking`), recommends one and says where it stands:

- `ok`: at least one lawful plan fits every month of the budget;
- `needs_approval`: plans fit the budget, but a lender rule bars every one of them (the APR
  cap with `above_apr_cap = "needs_approval"`, the re-plan limit...): `blocked_by` names the
  rules, `for_approval` holds the plans a person could approve; also when no structure can
  be built at all (`blocked_by` is `span`: no due date within the term, or
  `structure_allowed`);
- `nothing_fits`: no plan fits the budget: the closest options, the closest option's tightest
  month (`closest`) and its gap (`monthly_shortfall`, always > 0).

A plan whose APR would exceed the cap gets its rate brought down until it does not when the
policy says `above_apr_cap = "reduce_rate"` (the default), with the reason `rate_capped`
(a few rounds at most; a plan still over the cap then stays as it was, and non-compliant).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal

from plans.budget import Budget
from plans.context import Context
from plans.errors import NoPlanPossible
from plans.models import (
    Case,
    HardshipReason,
    Option,
    Outlook,
    Quote,
    QuoteStatus,
    Reason,
    Structure,
    split_option_id,
)
from plans.money import ZERO, quantize, round_places
from plans.policy import Policy
from plans.ranking import rank, recommend, recommendation_reasons, with_reasons
from plans.structures import BUILDERS, custom

#: a rate brought down to the APR cap is stated to 6 places (0.000001: a ten-thousandth of a percent)
RATE_PLACES = 6
RATE_STEP = Decimal(1).scaleb(-RATE_PLACES)
LENDER_RULES_ORDER = ("replan_limit", "apr_cap", "span", "term", "min_installment", "structure_allowed")


def build_options(case: Case, policy: Policy) -> list[Option]:
    """Every structure the policy allows that applies, lawful or not, affordable or not."""
    return _build_all(Context(case, policy))


def _build_all(ctx: Context) -> list[Option]:
    options = []
    for structure in ctx.rules.structures:
        built = _build(ctx, structure)
        if built is not None:
            options.append(built)
    return options


def _build(ctx: Context, structure: Structure) -> Option | None:
    """The option of one structure (within the APR cap), None where it does not apply."""
    builder = BUILDERS.get(structure)
    if builder is None:
        return None
    option = builder(ctx)
    return None if option is None else _within_cap(ctx, builder, option)


def _within_cap(ctx: Context, build: Callable[[Context], Option | None], option: Option) -> Option:
    """With `above_apr_cap = "reduce_rate"`, an option over the APR cap is built again at a
    rate lowered by the excess (a few rounds: the APR, priced on the actual dates, is not
    exactly the rate), and says so with the reason `rate_capped`; `option` as it is if no
    lower rate brings it within the cap."""
    policy = ctx.policy
    if option.apr <= policy.apr_cap or policy.above_apr_cap != "reduce_rate":
        return option
    capped = option
    for _ in range(5):
        if capped.plan_rate <= 0:
            break
        rate = round_places(max(ZERO, capped.plan_rate - (capped.apr - policy.apr_cap)), RATE_PLACES, ROUND_FLOOR)
        if rate == capped.plan_rate:
            rate = max(ZERO, rate - RATE_STEP)
        rebuilt = build(ctx.with_rate(rate))
        if rebuilt is None:
            return option
        capped = rebuilt
        if capped.apr <= policy.apr_cap:
            return with_reasons(capped, capped.reasons + [Reason("rate_capped", {"cap": str(policy.apr_cap)})])
    return option


def quote(case: Case, policy: Policy) -> Quote:
    ctx = Context(case, policy)
    built = _build_all(ctx)
    shown, why = recommend(rank(built), policy.recommendation)
    recommended = shown[0] if why is not None else None
    blocked = sorted((o for o in built if o.affordable and not o.compliant), key=lambda o: (-o.score, o.option_id))
    blocked_by: list[str] = []
    closest = None
    if recommended is not None:
        status = QuoteStatus.ok
    elif blocked or not built:
        status = QuoteStatus.needs_approval
        failed = {check.name for option in blocked for check in option.failed_checks}
        if not built:
            failed = {"span"} if not ctx.longest else {"structure_allowed"}
        blocked_by = [name for name in LENDER_RULES_ORDER if name in failed]
    else:
        status = QuoteStatus.nothing_fits
        shown = sorted(shown, key=lambda o: o.shortfall)
        closest = min(shown or built, key=lambda o: o.shortfall)
    budget = ctx.budget
    flags, flag_reasons = _flags(ctx, status, blocked_by)
    return Quote(
        as_of=case.as_of,
        loan_id=case.loan.loan_id,
        currency=case.loan.currency,
        status=status,
        payment_day=ctx.due_day,
        disposable_income=case.finances.disposable_income,
        affordable_payment=budget.now.available,
        budget=budget.now,
        budget_later=budget.later,
        budget_high_season=budget.high_season,
        options=shown,
        recommended=recommended.option_id if recommended else None,
        recommended_because=why,
        recommended_reasons=recommendation_reasons(shown[0], why) if why is not None else [],
        any_affordable=recommended is not None,
        monthly_shortfall=closest.shortfall if closest else quantize(ZERO, case.loan.currency),
        closest=closest.tightest if closest else None,
        blocked_by=blocked_by,
        for_approval=blocked[:4],
        flags=flags,
        flag_reasons=flag_reasons,
    )


def budget_of(case: Case, policy: Policy) -> Budget:
    """The borrower's budget as the quote sees it: `.now`, `.later`, `.high_season` are the
    `Available` breakdowns (income, essentials, other debts, share, reserve per dependant...),
    for the budget screen to show the very figures the options are held to."""
    return Context(case, policy).budget


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
    if structure not in ctx.rules.structures:
        return None
    option = _build(ctx, structure)
    return option if option is not None and option.option_id == option_id and option.compliant else None


def custom_quote(
    case: Case, policy: Policy, *, monthly_amount: Decimal | None = None, months: int | None = None
) -> Option:
    """The borrower's own plan, held to every rule a quoted option is: it is returned only if
    it passes every compliance check (its rate brought down to the APR cap where the policy
    says so). Otherwise NoPlanPossible: `custom_below_minimum` (payments below the minimum
    instalment), or `custom_not_allowed` with `reasons` (one per failed check: its name,
    value and limit) and `rules` (their names). An amount above the budget is an option with
    `affordable` False and the reason `over_budget` {available, asked, month}."""
    ctx = Context(case, policy)

    def build(context: Context) -> Option:
        return custom(context, monthly_amount=monthly_amount, months=months)

    option = _within_cap(ctx, build, build(ctx))
    failed = option.failed_checks
    if not failed:
        return option
    if [check.name for check in failed] == ["min_installment"]:
        raise NoPlanPossible(
            "below the minimum instalment", key="custom_below_minimum", minimum=ctx.rules.min_installment
        )
    reasons = [Reason(check.name, {"value": check.value, "limit": check.limit}) for check in failed]
    raise NoPlanPossible(
        "the plan breaks the lender's rules",
        key="custom_not_allowed",
        reasons=reasons,
        rules=", ".join(check.name for check in failed),
    )


def _flags(ctx: Context, status: QuoteStatus, blocked_by: list[str]) -> tuple[list[str], list[Reason]]:
    """Machine-readable flags, each with its reason: Reason(flag, {"because": ...})."""
    finances, loan, policy = ctx.case.finances, ctx.case.loan, ctx.policy
    raised: dict[str, dict[str, str]] = {}
    if status is QuoteStatus.nothing_fits:
        raised["no_affordable_plan"] = {"because": "budget"}
        raised["hardship_review"] = {"because": "no_affordable_plan"}
        raised["offer_person"] = {"because": "no_affordable_plan"}
    if status is QuoteStatus.needs_approval:
        raised["needs_approval"] = {"because": ",".join(blocked_by)}
        raised["offer_person"] = {"because": "needs_approval"}
    if finances.disposable_income <= 0:
        raised["no_disposable_income"] = {"because": "costs_exceed_income"}
    if loan.prior_restructures >= policy.replan_limit_12m:
        raised["replan_limit_reached"] = {
            "because": "prior_restructures",
            "count": str(loan.prior_restructures),
            "limit": str(policy.replan_limit_12m),
        }
        raised.setdefault("offer_person", {"because": "replan_limit_reached"})
    if finances.hardship_reason is HardshipReason.over_indebted:
        raised["debt_advice"] = {"because": "over_indebted"}
    elif status is QuoteStatus.nothing_fits and finances.outlook is Outlook.lasting:
        raised["debt_advice"] = {"because": "no_affordable_plan_lasting"}
    return list(raised), [Reason(flag, params) for flag, params in raised.items()]
