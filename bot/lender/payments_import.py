"""Import confirmed payments (loan_id, amount, paid_at, reference) from a .csv or .jsonl file.

Like the loan import, every row is checked first and all problems are reported as
`row N, column C: reason`; nothing is applied if any row is bad. Rows whose reference was
imported before are skipped (an import can be run again safely). Each payment is applied to
the loan's active plan, oldest unpaid instalment first (`bot.lender.plan_life.apply_payment`), and the
borrower is thanked through the reminder outbox.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.errors import FileImportError, Problem
from bot.lender.file_rows import read_rows
from bot.lender.plan_life import PaymentResult, apply_payment
from bot.store import Store

COLUMNS = ("loan_id", "amount", "paid_at", "reference")


@dataclass
class PaymentReport:
    applied: int = 0
    duplicates: int = 0
    completed_plans: int = 0
    without_plan: int = 0
    unapplied: Decimal = Decimal(0)
    results: list[PaymentResult] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return (f"applied {self.applied} payments ({self.duplicates} already imported, {self.without_plan} without "
                f"an active plan); {self.completed_plans} plans completed; overpaid {self.unapplied}")


def _validate(raw: dict[str, Any], number: int, store: Store, zone: ZoneInfo) -> tuple[dict, list[Problem]]:
    problems = []
    cells = {key: str(value).strip() for key, value in raw.items() if value is not None}
    for column in COLUMNS:
        if not cells.get(column):
            problems.append(Problem(number, column, "is required"))
    if problems:
        return {}, problems
    if store.get_loan(cells["loan_id"]) is None:
        problems.append(Problem(number, "loan_id", f"unknown loan {cells['loan_id']!r}"))
    try:
        amount = Decimal(cells["amount"])
        if not amount.is_finite() or amount <= 0:
            raise InvalidOperation
    except InvalidOperation:
        problems.append(Problem(number, "amount", f"not a positive amount: {cells['amount']!r}"))
        amount = None
    try:
        moment = datetime.fromisoformat(cells["paid_at"])
    except ValueError:
        problems.append(Problem(number, "paid_at", f"not a date (YYYY-MM-DD) or date-time: {cells['paid_at']!r}"))
        moment = None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)  # a bare date or time is the lender's local time
    return {"loan_id": cells["loan_id"], "amount": amount, "paid_at": moment, "reference": cells["reference"]}, problems


def import_payments(store: Store, path: str | Path, zone: ZoneInfo) -> PaymentReport:
    path = Path(path)
    rows: list[dict] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for number, raw in read_rows(path, known=COLUMNS, required=COLUMNS):
        if isinstance(raw, str):
            problems.append(Problem(number, None, raw))
            continue
        row, row_problems = _validate(raw, number, store, zone)
        if not row_problems and row["reference"] in seen:
            row_problems = [Problem(number, "reference", f"duplicate of row {seen[row['reference']]}")]
        problems += row_problems
        if not row_problems:
            seen[row["reference"]] = number
            rows.append(row)
    if problems:
        raise FileImportError(problems, f"nothing imported: {len({p.row for p in problems})} bad rows")
    report = PaymentReport()
    with store.transaction():
        for row in sorted(rows, key=lambda r: r["paid_at"]):
            result = apply_payment(store, source="import", **row)
            report.results.append(result)
            report.duplicates += result.duplicate
            report.applied += not result.duplicate
            report.without_plan += not result.duplicate and result.plan_id is None
            report.completed_plans += result.completed
            report.unapplied += result.unapplied
    return report

