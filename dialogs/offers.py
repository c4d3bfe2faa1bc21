"""The budget and the plans: the budget screen, options, an option's details, "I can pay X a
month", "are you sure?" above the budget, the terms and the agreement. Named handlers of the
step table (`dialogs.steps`). Each needs the chosen loan: if the lender has repaid, moved or
removed it since, the borrower is taken back to choosing a loan (`_loan_gone`).

Entering the options asks the engine for a quote as of today and remembers that day, so
showing them again, the details and the terms are the plans the borrower saw, and confirming a
day later records that plan. What the borrower sees follows the quote's status:

- `ok`: the plans that fit the budget, each with a button, the recommended one first with one
  line saying why;
- `nothing_fits`: what each month leaves for this loan and why (the budget screen's very
  figures), the closest plans without buttons, the month where the closest falls short and by
  how much; the case goes to a person for a hardship review (the engine's `hardship_review`
  flag), or, with nobody to answer here, the borrower is told how to reach the lender;
- `needs_approval`: plans fit, but the lender's rules (named) need a person to approve them.

The engine's `debt_advice` flag adds the lender's free debt-advice text (`debt_advice` in
locales/*/messages.toml). The borrower's own amount is held to every rule (`custom_quote`): a
refused one is refused with each broken rule, its value and its limit; one above the budget is
never called affordable and is agreed only after an explicit "yes, I am sure", which the
agreement records (audit event `over_budget_accepted`, `chosen_over_budget` in the plan's terms).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dialogs import steps
from dialogs.answers import budget_data, budget_view_of, case_from
from dialogs.model import Button, Event, Reply
from dialogs.parsing import parse_amount
from dialogs.person import hand_off
from dialogs.views import (
    check_view,
    loan_view,
    month_fit_view,
    option_data,
    option_view,
    over_budget_view,
    reason_view,
)
from plans.engine import custom_quote, offered_option, quote
from plans.errors import NoPlanPossible
from plans.models import Case, Loan, Option, Quote, QuoteStatus

if TYPE_CHECKING:
    from dialogs.machine import Dialogue
    from dialogs.state import State

#: The engine's flags a person should see on the hand-off card.
CARD_FLAGS = ("hardship_review", "debt_advice", "needs_approval", "no_disposable_income")
#: Who takes the case when the quote cannot give the borrower a plan here.
TO_PERSON = {QuoteStatus.nothing_fits: "hardship_review", QuoteStatus.needs_approval: "needs_approval"}


def _case(d: Dialogue, state: State) -> Case | None:
    """The borrower's case as of the quote's day; None when the chosen loan is no longer one of
    theirs (the lender repaid, moved or removed it since): see `_loan_gone`."""
    loan = d.loan(state)
    if loan is None:
        return None
    if state.quote_as_of is None:
        state.quote_as_of = d.services.now().date()
    return case_from(loan, state.data, state.quote_as_of)


def _loan_gone(d: Dialogue, state: State) -> list[Reply]:
    """No plan without the loan: back to choosing one (or being told there is none)."""
    state.loan_id = None
    d.back_to(state, steps.Step.loan)
    return [Reply("stale_menu"), *d.ask(state)]


def listed(result: Quote) -> list[Option]:
    """The options shown: those that fit the budget; when none does, the closest ones."""
    return [option for option in result.options if option.affordable] or result.options


# ---------------------------------------------------------------------------- the budget and the options


def show_budget(d: Dialogue, state: State) -> list[Reply]:
    """What each month leaves for this loan: the figures every option is held to."""
    loan = d.loan(state)
    if loan is None:
        return _loan_gone(d, state)
    data = budget_data(state.data, loan, d.services.now().date(), d.services.policy)
    return [d.menu(state, "budget", [[Button("see_options", steps.NEXT)]], data)]


def quote_options(d: Dialogue, state: State) -> list[Reply]:
    """Entering the options: quote afresh (the answers may have changed), remember what was
    offered, record it, and when no plan can be agreed here, hand the case to a person."""
    state.quote_as_of, state.chosen, state.custom = None, None, None
    case = _case(d, state)
    if case is None:
        return _loan_gone(d, state)
    result = quote(case, d.services.policy)
    if "replan_limit_reached" in result.flags:
        return _replan_limit(d, state)
    state.options = [option.option_id for option in listed(result) if option.affordable]
    d.audit("options_shown", state, options=state.options, any_affordable=result.any_affordable)
    if result.status is QuoteStatus.nothing_fits:
        d.audit("no_affordable_plan", state, shortfall=str(result.monthly_shortfall))
    elif result.status is QuoteStatus.needs_approval:
        d.audit("needs_approval", state, blocked_by=result.blocked_by)
    # The free debt-advice text comes before a screen with buttons (on a phone the buttons
    # stay at the foot of the chat), after a screen that hands the case to a person.
    advice = [Reply("debt_advice")] if "debt_advice" in result.flags else []
    why = TO_PERSON.get(result.status)
    if why is None:
        return [*advice, *_screen(d, state, case, result)]
    if not d.services.support_status().reachable:
        d.audit("person_requested", state, reason=why, step=state.step, reachable=False)
        return [*advice, *_screen(d, state, case, result)]
    card = {
        "flags": [{"key": r.key, "params": r.params} for r in result.flag_reasons if r.key in CARD_FLAGS],
        "blocked_by": result.blocked_by,
        "for_approval": [o.option_id for o in result.for_approval],
        "shortfall": result.monthly_shortfall if result.status is QuoteStatus.nothing_fits else None,
        "currency": result.currency,
    }
    return [*_screen(d, state, case, result, handed=True), *advice, *hand_off(d, state, why, **card)]


def show_options(d: Dialogue, state: State) -> list[Reply]:
    case = _case(d, state)
    if case is None:
        return _loan_gone(d, state)
    return _screen(d, state, case, quote(case, d.services.policy))


def _screen(d: Dialogue, state: State, case: Case, result: Quote, *, handed: bool = False) -> list[Reply]:
    """The options screen for the quote's status. `handed`: the case is going to a person
    right now, so this screen offers no buttons (the person's menu follows it)."""
    currency, policy = result.currency, d.services.policy
    shown = listed(result)
    views = [option_view(o, n) for n, o in enumerate(shown, 1)]
    if result.status is QuoteStatus.needs_approval:
        data = {"blocked_by": result.blocked_by, "handed": handed, "contact": policy.contact}
        rows = [[Button("edit_answers", f"back:{steps.Step.review.value}")]]
        return [Reply("needs_approval", data) if handed else d.menu(state, "needs_approval", rows, data)]
    if result.status is QuoteStatus.nothing_fits:
        closest = shown[0] if shown and shown[0].tightest == result.closest else None
        data = {
            "options": views,
            "currency": currency,
            "shortfall": result.monthly_shortfall,
            "closest": month_fit_view(result.closest) if result.closest else None,
            "closest_structure": closest.structure.value if closest else None,
            "budget": budget_view_of(case, result.budget, result.budget_later, result.budget_high_season),
            "handed": handed,
            "reachable": handed or d.services.support_status().reachable,
            "contact": policy.contact,
        }
        rows = [[Button("custom", "custom:")], [Button("person", "person:hardship_review")]]
        return [Reply("no_affordable", data) if handed else d.menu(state, "no_affordable", rows, data)]
    rows = [
        [Button("choose", f"choose:{o.option_id}", {"n": n}), Button("details", f"details:{o.option_id}", {"n": n})]
        for n, o in enumerate(shown, 1)
        if o.affordable
    ]
    person = "person:debt_advice" if "debt_advice" in result.flags else "person:options"
    rows += [[Button("custom", "custom:")], [Button("person", person)]]
    data = {
        "options": views,
        "recommended": result.recommended,
        "currency": currency,
        "because": reason_view(result.recommended_because) if result.recommended_because else None,
    }
    return [d.menu(state, "options", rows, data)]


def _replan_limit(d: Dialogue, state: State) -> list[Reply]:
    """No more new plans are allowed this year: the plan ends and a person takes the case."""
    plan = d.active_plan(state)
    if plan is not None:
        d.services.break_plan(plan["id"], "replan_limit")
    d.move(state, steps.Step.done, remember=False)
    return [Reply("replan_limit"), *hand_off(d, state, "replan_limit")]


# ---------------------------------------------------------------------------- one option


def _custom(d: Dialogue, state: State) -> Option | None:
    if not state.custom:
        return None
    case = _case(d, state)
    if case is None:
        return None
    amount, months = state.custom.get("amount"), state.custom.get("months")
    return custom_quote(
        case,
        d.services.policy,
        monthly_amount=Decimal(amount) if amount else None,
        months=int(months) if months else None,
    )


def _offered(d: Dialogue, state: State, option_id: str) -> Option | None:
    """The option `option_id` if it is one the borrower was offered, built again."""
    if option_id in state.options:
        case = _case(d, state)
        return offered_option(case, d.services.policy, option_id) if case is not None else None
    custom = _custom(d, state)
    return custom if custom is not None and custom.option_id == option_id else None


def _details(d: Dialogue, state: State, option: Option) -> Reply:
    rows = [[Button("choose_this", f"choose:{option.option_id}")], [steps.BACK_TO_OPTIONS]]
    return d.menu(state, "option_details", rows, option_data(option))


def _gone(d: Dialogue, state: State) -> list[Reply]:
    """The option a button was for is no longer offered: back to the plans (or, when it is the
    loan that went, to choosing one)."""
    if d.loan(state) is None:
        return _loan_gone(d, state)
    d.back_to(state, steps.Step.options)
    return [Reply("stale_menu"), *d.ask(state)]


def details(d: Dialogue, state: State, event: Event, option_id: str) -> list[Reply]:
    option = _offered(d, state, option_id)
    return [_details(d, state, option)] if option is not None else _gone(d, state)


# ---------------------------------------------------------------------------- "I can pay X a month"


def ask_custom(d: Dialogue, state: State, event: Event, value: str) -> list[Reply]:
    return d.go(state, steps.Step.custom_amount)


def custom_amount(d: Dialogue, state: State, event: Event, text: str) -> list[Reply]:
    """The borrower's own monthly amount: its plan's details, or why no lawful plan has it."""
    amount = parse_amount(text, allow_zero=False)
    case = _case(d, state)
    if case is None:
        return _loan_gone(d, state)
    try:
        option = custom_quote(case, d.services.policy, monthly_amount=amount)
    except NoPlanPossible as error:
        return [refusal(error, d.currency(state)), *d.ask(state)]
    state.custom = {
        "amount": str(amount),
        "option_id": option.option_id,
        "affordable": "yes" if option.affordable else "no",
    }
    d.back_to(state, steps.Step.options)
    return [_details(d, state, option)]


def refusal(error: NoPlanPossible, currency: str) -> Reply:
    """A refused plan in words: each rule it breaks with its value and limit."""
    if error.key == "custom_not_allowed":
        return Reply(
            "error.custom_not_allowed", {"checks": [check_view(r) for r in error.reasons], "currency": currency}
        )
    return Reply(f"error.{error.key}", {**error.params, "currency": currency})


def own_plan_over_budget(state: State) -> bool:
    """The chosen plan is the borrower's own amount and it is above their budget (the step
    that asks "are you sure?" applies)."""
    custom = state.custom or {}
    return state.chosen is not None and state.chosen == custom.get("option_id") and custom.get("affordable") == "no"


def show_above_budget(d: Dialogue, state: State) -> list[Reply]:
    option = _offered(d, state, state.chosen) if state.chosen else None
    if option is None or option.affordable:
        return _gone(d, state)
    rows = [[Button("sure", f"sure:{option.option_id}")], [Button("lower_amount", "custom:")], [steps.BACK_TO_OPTIONS]]
    data = {"option": option_view(option, 0), "over": over_budget_view(option), "currency": option.currency}
    return [d.menu(state, "above_budget", rows, data)]


def sure(d: Dialogue, state: State, event: Event, option_id: str) -> list[Reply]:
    """ "Yes, I am sure": recorded, then the terms."""
    option = _offered(d, state, option_id)
    over = over_budget_view(option) if option is not None else None
    custom = state.custom
    if option is None or option_id != state.chosen or option.affordable or over is None or custom is None:
        return _gone(d, state)  # not the borrower's own amount above the budget that this button was for
    custom["knowingly"] = "yes"
    d.audit(
        "over_budget_accepted",
        state,
        option_id=option_id,
        amount=custom.get("amount"),
        available=str(over["available"]),
        asked=str(over["asked"]),
        month=f"{over['month']:%Y-%m}",
    )
    return d.advance(state)


def _chosen_knowingly(state: State) -> bool:
    return (state.custom or {}).get("knowingly") == "yes"


# ---------------------------------------------------------------------------- choosing and agreeing


def choose(d: Dialogue, state: State, event: Event, option_id: str) -> list[Reply]:
    if _offered(d, state, option_id) is None:
        return _gone(d, state)
    state.chosen = option_id
    if state.custom:
        state.custom.pop("knowingly", None)  # chosen again: asked again
    return d.advance(state)


def _terms(d: Dialogue, loan: Loan, option: Option) -> dict[str, Any]:
    """What the borrower agrees to, including when a missed payment ends the plan (the policy's
    rules) and, for their own amount above the budget, that they chose it knowingly."""
    rules = d.services.policy.reminders
    return {
        **option_data(option),
        "loan": loan_view(loan),
        "grace_days": rules.grace_days,
        "misses": rules.misses_before_broken,
    }


def show_terms(d: Dialogue, state: State) -> list[Reply]:
    loan = d.loan(state)
    if loan is None:
        return _loan_gone(d, state)
    option = _offered(d, state, state.chosen) if state.chosen else None
    if option is None:
        return _gone(d, state)
    rows = [[Button("i_agree", f"agree:{option.option_id}")], [steps.BACK_TO_OPTIONS]]
    return [d.menu(state, "confirm_terms", rows, _terms(d, loan, option))]


def agree(d: Dialogue, state: State, event: Event, option_id: str) -> list[Reply]:
    loan = d.loan(state)
    if loan is None:
        return _loan_gone(d, state)
    option = _offered(d, state, option_id)
    if option is None or option_id != state.chosen:
        return [Reply("stale_menu"), *d.ask(state)]
    if not option.affordable and not _chosen_knowingly(state):
        return [Reply("stale_menu"), *d.go(state, steps.Step.above_budget)]  # "are you sure?" comes first
    assert state.borrower_id is not None, "`Dialogue.loans` finds loans only for an identified borrower"
    terms = _terms(d, loan, option)
    text = d.services.render(state.locale, "confirm_terms", **terms)
    state.plan_id = d.services.save_plan(
        loan_id=loan.loan_id,
        borrower_id=state.borrower_id,
        option=option,
        consent_text=text,
        user_id=event.user_id,
        update_id=event.update_id,
        chosen_over_budget=not option.affordable,
    )
    d.move(state, steps.Step.done)
    state.history.clear()  # an agreed plan is not gone back into
    d.close_menu(state)
    return [Reply("plan_recorded", {**terms, "plan_id": state.plan_id})]
