"""From engine objects to template data, and from the borrower's answers to an engine case."""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from dialogs.model import Collected
from plans.models import Case, Finances, IncomeKind, Loan, Option, Outlook, SeasonalIncome


def finances_from(data: Collected) -> Finances:
    seasonal = None
    if data.income_kind is IncomeKind.seasonal and data.high_months and data.high_income:
        seasonal = SeasonalIncome(months=data.high_months, monthly_income=data.high_income)
    recovering = data.outlook is not Outlook.lasting and data.recovery_months
    return Finances(
        monthly_income=data.income or Decimal(0),
        income_kind=data.income_kind or IncomeKind.salary,
        high_income_months=seasonal,
        essential_expenses=dict(data.expenses) if data.expenses_itemised else (data.expenses_total or Decimal(0)),
        other_debt_payments=data.other_debts or Decimal(0),
        dependants=data.dependants or 0,
        savings_available=data.savings or Decimal(0),
        hardship_reason=data.reason,
        outlook=data.outlook or Outlook.unsure,
        expected_recovery_months=(data.recovery_months or 0) if recovering else 0,
        income_after_recovery=data.income_after if recovering else None,
    )


def case_from(loan: Loan, data: Collected, as_of: date) -> Case:
    return Case(as_of=as_of, loan=loan, finances=finances_from(data))


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
    instalments = [row.payment for row in option.schedule if row.kind != "down_payment"]
    # The last payment carries the rounding residue (a few cents): the range leaves it out.
    regular = instalments[:-1] if len(instalments) > 1 else instalments
    return {
        "number": number,
        "option_id": option.option_id,
        "structure": option.structure.value,
        "currency": option.currency,
        "monthly_min": min(regular),
        "monthly_max": max(regular),
        "payments": option.payments,
        "last_payment": instalments[-1],
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
