"""From engine objects to template data: a loan, an option (summary and schedule)."""
from __future__ import annotations

from typing import Any

from plans.models import Loan, Option


def loan_view(loan: Loan) -> dict[str, Any]:
    return {
        "loan_id": loan.loan_id,
        "product": loan.product.value,
        "currency": loan.currency,
        "overdue": loan.overdue_principal + loan.overdue_interest + loan.penalty_fees,
        "overdue_principal": loan.overdue_principal,
        "overdue_interest": loan.overdue_interest,
        "penalty_fees": loan.penalty_fees,
        "outstanding": loan.outstanding_principal,
        "total": loan.total_owed,
        "days_past_due": loan.days_past_due,
        "monthly_payment": loan.monthly_payment,
    }


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
        "last_payment": option.last_payment,
        "first_due": option.first_due_date,
        "last_due": option.last_due_date,
        "total": option.total_repayable,
        "interest": option.total_interest,
        "penalties_waived": option.penalties_waived,
        "waived": option.waived,
        "down_payment": option.down_payment,
        "apr": option.apr,
        "ear": option.effective_annual_rate,
        "rate": option.plan_rate,
        "affordable": option.affordable,
        "shortfall": option.shortfall,
        "parameters": option.parameters,
        "reasons": [{"key": r.key, "params": r.params} for r in option.reasons],
    }


SHOWN_ROWS = 24  # a 480-month schedule would not fit in one Telegram message (4,096 chars)


def shorten(rows: list[dict[str, Any]], limit: int = SHOWN_ROWS) -> list[dict[str, Any]]:
    """A long list of schedule rows keeps its start and end, with a `{"gap": n}` marker."""
    if len(rows) <= limit:
        return rows
    head, tail = rows[: limit - 3], rows[-2:]
    return [*head, {"gap": len(rows) - len(head) - len(tail)}, *tail]


def schedule_view(option: Option) -> list[dict[str, Any]]:
    return shorten([
        {"number": r.number, "due": r.due_date, "payment": r.payment, "principal": r.principal,
         "interest": r.interest, "fees": r.fees, "balance": r.balance, "kind": r.kind}
        for r in option.schedule
    ])


def option_data(option: Option) -> dict[str, Any]:
    """What every template about one option needs: its summary and its schedule."""
    return {"option": option_view(option, 0), "schedule": schedule_view(option)}
