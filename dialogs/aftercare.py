"""After the agreement: /plan, /schedule (the instalments with the plan's pauses where they
fall), /paid (report a payment: amount, then the day), and
the check-in after a missed instalment ("I have paid", "I need to change my plan", a person).
Named handlers of the step table (`dialogs.steps`). Reporting a payment returns the borrower to
the step they were at.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING

from dialogs import steps
from dialogs.model import Button, Event, Reply
from dialogs.parsing import parse_amount, parse_day
from dialogs.views import shorten, with_pauses
from plans.statuses import InstalmentStatus

if TYPE_CHECKING:
    from dialogs.machine import Dialogue
    from dialogs.state import State


def plan_command(d: Dialogue, state: State, name: str) -> list[Reply]:
    plan = d.active_plan(state)
    if plan is None:
        return [Reply("no_plan"), *d.ask(state)]
    if name == "/plan":
        return [Reply("plan_summary", {"plan": plan})]
    if name == "/schedule":
        lines = shorten(with_pauses(plan["instalments"], plan["pauses"]))
        return [
            Reply(
                "plan_schedule",
                {"plan": plan, "lines": lines, "plan_id": plan["id"]},
                attachments=("chart", "calendar"),
            )
        ]
    return _start_paid(d, state)


def check_in(d: Dialogue, state: State, plan_id: int) -> list[Reply]:
    """A missed instalment of the active plan: ask what happened (never while a person has
    the conversation: they see the plan's state themselves)."""
    plan = d.active_plan(state)
    if plan is None or plan["id"] != plan_id or state.step is steps.Step.with_person:
        return []
    if state.step not in (steps.Step.checkin, steps.Step.paused):
        state.return_step = state.step
    return d.go(state, steps.Step.checkin, remember=False)


def show_checkin(d: Dialogue, state: State) -> list[Reply]:
    plan = d.active_plan(state)
    missed = [i for i in plan["instalments"] if i["status"] == InstalmentStatus.MISSED] if plan else []
    if not missed:
        return d.go(state, steps.Step.done, remember=False)
    rows = [
        [Button("checkin_paid", "checkin:paid")],
        [Button("checkin_change", "checkin:change")],
        [Button("person", "person:checkin")],
    ]
    return [d.menu(state, "checkin", rows, {"plan": plan, "instalment": missed[0]})]


def checkin_answer(d: Dialogue, state: State, event: Event, value: str) -> list[Reply]:
    if value == "paid":
        return _start_paid(d, state)
    d.services.audit("replan_started", chat_id=event.chat_id, borrower_id=state.borrower_id, loan_id=state.loan_id)
    state.chosen, state.custom, state.quote_as_of = None, None, None
    return [Reply("replan_intro"), *d.go(state, steps.Step.review)]


def _start_paid(d: Dialogue, state: State) -> list[Reply]:
    if state.step not in (steps.Step.paid_amount, steps.Step.paid_date):
        state.return_step = state.step if state.step is not steps.Step.checkin else steps.Step.done
    return d.go(state, steps.Step.paid_amount)


def paid_amount(d: Dialogue, state: State, event: Event, text: str) -> list[Reply]:
    state.reported_amount = parse_amount(text, allow_zero=False)
    return d.go(state, steps.Step.paid_date)


def paid_date(d: Dialogue, state: State, event: Event, text: str) -> list[Reply]:
    return _reported(d, state, parse_day(text, today=d.services.now().date()))


def paid_on(d: Dialogue, state: State, event: Event, value: str) -> list[Reply]:
    return _reported(d, state, d.services.now().date() - timedelta(days=int(value)))


def _reported(d: Dialogue, state: State, paid_on: date) -> list[Reply]:
    plan = d.active_plan(state)
    back = state.return_step or steps.Step.done
    if plan is None or state.reported_amount is None:
        d.return_to(state, back)
        return [Reply("no_plan")]
    d.services.report_payment(plan["id"], state.reported_amount, paid_on)
    amount, state.reported_amount = state.reported_amount, None
    d.return_to(state, back)
    d.close_menu(state)
    return [Reply("paid_reported", {"amount": amount, "paid_on": paid_on, "currency": plan["currency"]})]
