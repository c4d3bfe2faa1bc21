"""The plans: options, an option's details, "I can pay X a month", the terms and the
agreement. Named handlers of the step table (`dialogs.steps`).

Entering the options asks the engine for a quote as of today and remembers that day, so
showing them again, the details and the terms are the plans the borrower saw, and confirming a
day later records that plan. Only options that fit the budget are listed and can be chosen;
when none fits, the closest ones are shown without buttons, with the gap and two ways on (name
an amount, or a person).
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from dialogs.answers import case_from
from dialogs.model import Button, Event, Reply
from dialogs.parsing import parse_amount
from dialogs.person import hand_off
from dialogs.steps import Step
from dialogs.views import loan_view, option_data, option_view
from plans.engine import custom_quote, offered_option, quote
from plans.errors import NoPlanPossible
from plans.models import Case, Option, Quote, QuoteStatus

if TYPE_CHECKING:
    from dialogs.machine import Dialogue
    from dialogs.state import State

BACK_TO_OPTIONS = Button("back_to_options", f"back:{Step.options.value}")


def _case(d: Dialogue, state: State) -> Case:
    if state.quote_as_of is None:
        state.quote_as_of = d.services.now().date()
    return case_from(d.loan(state), state.data, state.quote_as_of)


def listed(result: Quote) -> list[Option]:
    """The options shown: those that fit the budget; when none does, the closest ones."""
    return [option for option in result.options if option.affordable] or result.options


def quote_options(d: Dialogue, state: State) -> list[Reply]:
    """Entering the options: quote afresh (the answers may have changed), remember what was
    offered, and record it."""
    state.quote_as_of, state.chosen, state.custom = None, None, None
    result = quote(_case(d, state), d.services.policy)
    if "replan_limit_reached" in result.flags:
        return _replan_limit(d, state)
    if result.status is QuoteStatus.needs_approval:
        # Plans fit the budget but a lender rule bars them: a person, not "nothing fits".
        d.audit("needs_approval", state, blocked_by=result.blocked_by)
        return [Reply("needs_approval"), *hand_off(d, state, "needs_approval")]
    state.options = [option.option_id for option in listed(result) if option.affordable]
    d.audit("options_shown", state, options=state.options, any_affordable=result.any_affordable)
    if not result.any_affordable:
        d.audit("no_affordable_plan", state, shortfall=str(result.monthly_shortfall))
    return _options_menu(d, state, result)


def show_options(d: Dialogue, state: State) -> list[Reply]:
    return _options_menu(d, state, quote(_case(d, state), d.services.policy))


def _options_menu(d: Dialogue, state: State, result: Quote) -> list[Reply]:
    shown = listed(result)
    rows = [[Button("choose", f"choose:{o.option_id}", {"n": n}), Button("details", f"details:{o.option_id}", {"n": n})]
            for n, o in enumerate(shown, 1) if o.affordable]
    rows += [[Button("custom", "custom:")], [Button("person", "person:options")]]
    data = {"options": [option_view(o, n) for n, o in enumerate(shown, 1)], "recommended": result.recommended,
            "currency": result.currency, "shortfall": result.monthly_shortfall,
            "affordable_payment": result.affordable_payment, "any_affordable": result.any_affordable,
            "reasons": [{"key": r.key, "params": r.params} for r in result.recommended_reasons]}
    return [d.menu(state, "options" if result.any_affordable else "no_affordable", rows, data)]


def _replan_limit(d: Dialogue, state: State) -> list[Reply]:
    """No more new plans are allowed this year: the plan ends and a person takes the case."""
    plan = d.active_plan(state)
    if plan is not None:
        d.services.break_plan(plan["id"], "replan_limit")
    d.move(state, Step.done, remember=False)
    return [Reply("replan_limit"), *hand_off(d, state, "replan_limit")]


def _custom(d: Dialogue, state: State) -> Option | None:
    if not state.custom:
        return None
    amount, months = state.custom.get("amount"), state.custom.get("months")
    return custom_quote(_case(d, state), d.services.policy, monthly_amount=Decimal(amount) if amount else None,
                        months=int(months) if months else None)


def _offered(d: Dialogue, state: State, option_id: str) -> Option | None:
    """The option `option_id` if it is one the borrower was offered, built again."""
    if option_id in state.options:
        return offered_option(_case(d, state), d.services.policy, option_id)
    custom = _custom(d, state)
    return custom if custom is not None and custom.option_id == option_id else None


def _details(d: Dialogue, state: State, option: Option) -> Reply:
    rows = [[Button("choose_this", f"choose:{option.option_id}")], [BACK_TO_OPTIONS]]
    return d.menu(state, "option_details", rows, option_data(option))


def _gone(d: Dialogue, state: State) -> list[Reply]:
    d.back_to(state, Step.options)
    return [Reply("stale_menu"), *d.ask(state)]


def details(d: Dialogue, state: State, event: Event, option_id: str) -> list[Reply]:
    option = _offered(d, state, option_id)
    return [_details(d, state, option)] if option is not None else _gone(d, state)


def ask_custom(d: Dialogue, state: State, event: Event, value: str) -> list[Reply]:
    return d.go(state, Step.custom_amount)


def custom_amount(d: Dialogue, state: State, event: Event, text: str) -> list[Reply]:
    amount = parse_amount(text, allow_zero=False)
    previous, state.custom = state.custom, {"amount": str(amount)}
    try:
        option = _custom(d, state)
    except NoPlanPossible as error:
        state.custom = previous
        return [Reply(f"error.{error.key}", {**error.params, "currency": d.currency(state)}), *d.ask(state)]
    d.back_to(state, Step.options)
    return [_details(d, state, option)]


def choose(d: Dialogue, state: State, event: Event, option_id: str) -> list[Reply]:
    if _offered(d, state, option_id) is None:
        return _gone(d, state)
    state.chosen = option_id
    return d.advance(state)


def _terms(d: Dialogue, state: State, option: Option) -> dict[str, Any]:
    """What the borrower agrees to, including when a missed payment ends the plan (the policy's rules)."""
    rules = d.services.policy.reminders
    return {**option_data(option), "loan": loan_view(d.loan(state)), "grace_days": rules.grace_days,
            "misses": rules.misses_before_broken}


def show_terms(d: Dialogue, state: State) -> list[Reply]:
    option = _offered(d, state, state.chosen) if state.chosen else None
    if option is None:
        return _gone(d, state)
    rows = [[Button("i_agree", f"agree:{option.option_id}")], [BACK_TO_OPTIONS]]
    return [d.menu(state, "confirm_terms", rows, _terms(d, state, option))]


def agree(d: Dialogue, state: State, event: Event, option_id: str) -> list[Reply]:
    option = _offered(d, state, option_id)
    if option is None or option_id != state.chosen:
        return [Reply("stale_menu"), *d.ask(state)]
    text = d.services.render(state.locale, "confirm_terms", **_terms(d, state, option))
    state.plan_id = d.services.save_plan(loan_id=state.loan_id, borrower_id=state.borrower_id, option=option,
                                         consent_text=text, user_id=event.user_id, update_id=event.update_id)
    d.move(state, Step.done)
    state.history.clear()  # an agreed plan is not gone back into
    d.close_menu(state)
    return [Reply("plan_recorded", {**option_data(option), "plan_id": state.plan_id})]
