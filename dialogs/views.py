"""From engine objects to template data: a loan, an option (summary, costs, pauses, schedule),
the budget (what a month leaves for this loan, with its parts), a month of a plan against the
budget, and the compliance checks a refused plan breaks.

Every figure the chat shows comes from here, so the budget screen, the options, "nothing
fits" and the terms show the same numbers the engine holds the plans to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from plans.dates import due_dates
from plans.models import Available, Loan, MonthFit, Option, Pause, Reason, split_option_id


def loan_view(loan: Loan) -> dict[str, Any]:
    return {
        "loan_id": loan.loan_id,
        "product": loan.product.value,
        "currency": loan.currency,
        "overdue": loan.overdue_principal + loan.overdue_interest + loan.penalty_fees,
        "overdue_principal": loan.overdue_principal,
        "overdue_interest": loan.overdue_interest,
        "penalty_fees": loan.penalty_fees,
        #: unpaid fees of an earlier plan (a re-plan): owed, interest-free, not overdue as such
        "earlier_fees": loan.carried_fees,
        "outstanding": loan.outstanding_principal,
        "total": loan.total_owed,
        "days_past_due": loan.days_past_due,
        "monthly_payment": loan.monthly_payment,
    }


def reason_view(reason: Reason) -> dict[str, Any]:
    """A reason key with its parameters; an option id among them is read as its structure
    (`recommended_cheapest` names the plan it is cheaper than)."""
    params = dict(reason.params)
    for name in ("instead_of", "cheaper"):
        parts = split_option_id(params.get(name, ""))
        if parts is not None:
            params[f"{name}_structure"] = parts[0].value
    return {"key": reason.key, "params": params}


def pause_view(pause: Pause) -> dict[str, Any]:
    """A pause: the due dates with nothing to pay, and what happened to interest meanwhile."""
    return {
        "first": pause.first_date,
        "last": pause.last_date,
        "months": pause.months,
        "interest": pause.interest,
        "capitalised": pause.capitalised,
    }


def stored_pause_view(row: Mapping[str, Any]) -> dict[str, Any]:
    """A pause as saved with a plan (`store.plan_pauses`), in `pause_view`'s shape."""
    return pause_view(Pause(row["first_date"], row["last_date"], row["months"], row["interest"], row["capitalised"]))


def option_view(option: Option, number: int) -> dict[str, Any]:
    low, high = option.regular_range
    return {
        "number": number,
        "option_id": option.option_id,
        "structure": option.structure.value,
        "currency": option.currency,
        "monthly_min": low,
        "monthly_max": high,
        "payments": option.payments,
        "first_payment": option.first_payment,
        "last_payment": option.last_payment,
        "first_due": option.first_due_date,
        "last_due": option.last_due_date,
        "total": option.total_repayable,
        "interest": option.total_interest,
        "waived": option.waived,
        "penalties_waived": option.penalties_waived,
        "penalties_kept": option.penalties_kept,
        "kept_paid": option.penalties_kept_paid,  # interest_free_payments | settlement | none
        "interest_waived": option.interest_waived,
        "principal_waived": option.principal_waived,
        "balance": option.restructured_balance,
        "principal": option.restructured_principal,
        "interest_added": option.interest_capitalised,
        "interest_carried": option.overdue_interest_carried,
        "earlier_fees": option.fees_from_earlier_plan,
        "carried": option.carried_fees,
        "pauses": [pause_view(pause) for pause in option.pauses],
        "pause_interest": option.pause_interest,
        "down_payment": option.down_payment,
        "apr": option.apr,
        "ear": option.effective_annual_rate,
        "rate": option.plan_rate,
        "affordable": option.affordable,
        "shortfall": option.shortfall,
        "tightest": month_fit_view(option.tightest),
        "parameters": option.parameters,
        "reasons": [reason_view(r) for r in option.reasons],
    }


def month_fit_view(fit: MonthFit) -> dict[str, Any]:
    """A calendar month of a plan against the budget; `month` is its first day (for `|month`)."""
    year, month = fit.month.split("-")
    return {
        "month": date(int(year), int(month), 1),
        "due": fit.due,
        "savings_used": fit.savings_used,
        "to_pay": fit.to_pay,
        "available": fit.available,
        "gap": fit.gap,
    }


def available_view(available: Available) -> dict[str, Any]:
    """What a month with this income leaves for the loan, and each part of the rule."""
    return {
        "income": available.income,
        "essentials": available.essentials,
        "other_debts": available.other_debts,
        "disposable": available.disposable,
        "share": available.share,
        "by_share": available.by_share,
        "min_left": available.min_left,
        "per_dependant": available.per_dependant,
        "dependants": available.dependants,
        "reserve": available.reserve,
        "after_reserve": available.after_reserve,
        "available": available.available,
        "kept": available.disposable - available.available,
        "limited_by": available.limited_by,
    }


def budget_view(
    now: Available,
    later: Available | None,
    high_season: Available | None,
    *,
    change_month: date | None,
    high_months: list[int],
) -> dict[str, Any]:
    """The one budget the budget screen and "nothing fits" show: now, after the expected
    change of income (from `change_month`), and in the high-income months."""
    return {
        "now": available_view(now),
        "later": available_view(later) if later is not None else None,
        "change_month": change_month,
        "high": available_view(high_season) if high_season is not None else None,
        "high_months": high_months,
    }


# A compliance check's value and limit as the templates format them.
_CHECK_TYPES: dict[str, Callable[[str], Any]] = {
    "apr_cap": Decimal,
    "min_installment": Decimal,
    "span": date.fromisoformat,
    "term": int,
    "replan_limit": int,
}


def check_view(reason: Reason) -> dict[str, Any]:
    """A failed compliance check (Reason(check, {value, limit})) with typed value and limit."""
    convert = _CHECK_TYPES.get(reason.key, str)
    view: dict[str, Any] = {"key": reason.key}
    for name in ("value", "limit"):
        raw = reason.params.get(name, "")
        try:
            view[name] = convert(raw)
        except (ValueError, ArithmeticError):
            view[name] = raw
    return view


SHOWN_ROWS = 24  # a 480-month schedule would not fit in one Telegram message (4,096 chars)


def shorten(rows: list[dict[str, Any]], limit: int = SHOWN_ROWS) -> list[dict[str, Any]]:
    """A long list of schedule rows keeps its start and end, with a `{"gap": n}` marker."""
    if len(rows) <= limit:
        return rows
    head, tail = rows[: limit - 3], rows[-2:]
    return [*head, {"gap": len(rows) - len(head) - len(tail)}, *tail]


def with_pauses(rows: list[dict[str, Any]], pauses: list[dict[str, Any]], key: str = "due") -> list[dict[str, Any]]:
    """Schedule rows with each pause as a row of its own (`{"pause": ...}`) where it falls."""
    lines = list(rows) + [{"pause": pause, key: pause["first"]} for pause in pauses]
    return sorted(lines, key=lambda line: (line[key], "pause" not in line))


def paused_dates(pause: dict[str, Any], due_day: int) -> list[date]:
    """The due dates a pause covers, one a month, on the plan's `due_day` (clamped to a short
    month's end like every due date: the pause's own ends may both be clamped, e.g. day 31
    paused April to June ends on 30 April and 30 June but covers 31 May)."""
    return due_dates(pause["first"], pause["months"], due_day)


def schedule_view(option: Option) -> list[dict[str, Any]]:
    rows = [
        {
            "number": r.number,
            "due": r.due_date,
            "payment": r.payment,
            "principal": r.principal,
            "interest": r.interest,
            "fees": r.fees,
            "balance": r.balance,
            "kind": r.kind,
        }
        for r in option.schedule
    ]
    return shorten(with_pauses(rows, [pause_view(p) for p in option.pauses]))


def over_budget_view(option: Option) -> dict[str, Any] | None:
    """For a plan above the budget (the engine's `over_budget` reason, given to the borrower's
    own amount): the month it is worst, what it asks then, what is available; else None."""
    if not any(r.key == "over_budget" for r in option.reasons):
        return None
    fit = month_fit_view(option.tightest)
    return {"available": fit["available"], "asked": fit["to_pay"], "month": fit["month"]}


def option_data(option: Option) -> dict[str, Any]:
    """What every template about one option needs: its summary, its schedule and, above the
    budget, by how much (`over`)."""
    return {"option": option_view(option, 0), "schedule": schedule_view(option), "over": over_budget_view(option)}
