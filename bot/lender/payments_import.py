"""Import confirmed payments (loan_id, amount, paid_at, reference) from a .csv or .jsonl file.

Like the loan import (`bot.lender.loans_import`), in two passes with flat memory: every row is
checked and staged first, a reference listed twice is found over the whole file, and every
problem is reported as `row N, column C: reason`; nothing is applied if any row is bad. Then
the payments are applied in the order they were paid, `BATCH` to a transaction, each to the
loan's active plan, oldest unpaid instalment first (`bot.lender.plan_life.apply_payment`).
A reference imported before is skipped, so an import can be run again safely (also to finish
one that was stopped half-way).

Each borrower paid in the file is thanked once, after all their payments are applied: the
message (rendered when it is sent) gives the plan's state after the last of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_precision

from bot.errors import Problem
from bot.lender.file_rows import Problems, Progress, RowFile, clean_cells, first_per_column
from bot.lender.plan_life import apply_payment, thank_for_payments
from bot.store import Store
from bot.store.codec import to_money_text, to_timestamp
from bot.terminal import shown
from dialogs.parsing import InputError, parse_loan_number

COLUMNS = ("loan_id", "amount", "paid_at", "reference")
MAX_REFERENCE = 128
BATCH = 200  # payments applied per transaction: well under a second of the write lock
STAGE_CHUNK = 5000


@dataclass
class PaymentReport:
    applied: int = 0
    duplicates: int = 0
    completed_plans: int = 0
    without_plan: int = 0
    unapplied: Decimal = Decimal(0)
    thanked: int = 0  # borrowers

    @property
    def summary(self) -> str:
        return (
            f"applied {self.applied} payments ({self.duplicates} already imported, {self.without_plan} without "
            f"an active plan); {self.completed_plans} plans completed; overpaid {self.unapplied}"
        )


def _validate(raw: dict[str, Any], number: int, store: Store, zone: ZoneInfo) -> tuple[tuple, list[Problem]]:
    """The row as staged (loan_id, amount, paid_at, reference), or its problems."""
    cells, problems = clean_cells(raw, number)
    cells = {key: str(value) for key, value in cells.items()}
    problems += [Problem(number, shown(c)[1:-1], "unknown column") for c in cells if c not in COLUMNS]
    problems += [Problem(number, c, "is required") for c in COLUMNS if c not in cells]
    currency = None
    if "loan_id" in cells:
        try:
            loan_id = parse_loan_number(cells["loan_id"])  # as the loan import stored it
        except InputError:
            loan_id = None
        currency = store.loan_currency(loan_id) if loan_id else None
        if currency is None:
            problems.append(Problem(number, "loan_id", f"unknown loan {shown(cells['loan_id'])}"))
        cells["loan_id"] = loan_id
    if "amount" in cells:
        try:
            amount = Decimal(cells["amount"])
            if not amount.is_finite() or amount <= 0:
                raise InvalidOperation
        except InvalidOperation:
            problems.append(Problem(number, "amount", f"not a positive amount: {shown(cells['amount'])}"))
        else:
            exponent = amount.normalize().as_tuple().exponent  # an int: the amount is finite
            if currency and isinstance(exponent, int) and -exponent > get_currency_precision(currency):
                problems.append(
                    Problem(
                        number, "amount", f"has more decimal places than {currency} allows: {shown(cells['amount'])}"
                    )
                )
            cells["amount"] = to_money_text(amount)
    if "paid_at" in cells:
        try:
            moment = datetime.fromisoformat(cells["paid_at"])
        except ValueError:
            problems.append(
                Problem(number, "paid_at", f"not a date (YYYY-MM-DD) or date-time: {shown(cells['paid_at'])}")
            )
        else:  # a bare date or time is the lender's local time
            cells["paid_at"] = to_timestamp(moment if moment.tzinfo else moment.replace(tzinfo=zone))
    if "reference" in cells and len(cells["reference"]) > MAX_REFERENCE:
        problems.append(Problem(number, "reference", f"longer than {MAX_REFERENCE} characters"))
    if problems:
        return (), first_per_column(problems)
    return (cells["loan_id"], cells["amount"], cells["paid_at"], cells["reference"]), []


def import_payments(
    store: Store, path: str | Path, zone: ZoneInfo, *, progress: Progress | None = None
) -> PaymentReport:
    source = RowFile(path, known=COLUMNS, required=COLUMNS)
    problems = Problems()
    store.start_payment_staging()
    try:
        good = _check(store, source, problems, zone, progress)
        clashes, count = store.staged_payment_clashes(Problems.LIMIT)
        problems.merge((Problem(*clash) for clash in clashes), count, count)
        if problems:
            raise problems.error(f"nothing imported: {problems.rows} bad rows")
        report = PaymentReport()
        after = None
        while batch := store.staged_payments(after, BATCH):
            with store.transaction():
                for row in batch:
                    _apply(store, row, report)
            after = batch[-1]["paid_at"], batch[-1]["n"]
            if progress:
                progress("applying", report.applied + report.duplicates, good - count)
        with store.transaction():
            report.thanked = thank_for_payments(store, store.staged_payers())
        return report
    finally:
        store.drop_staging()


def _apply(store: Store, row: dict, report: PaymentReport) -> None:
    result = apply_payment(
        store,
        loan_id=row["loan_id"],
        amount=Decimal(row["amount"]),
        paid_at=datetime.fromisoformat(row["paid_at"]),
        reference=row["reference"],
        source="import",
    )
    store.note_staged_payment(row["n"], result.payment_id, result.plan_id)
    report.duplicates += result.duplicate
    report.applied += not result.duplicate
    report.without_plan += not result.duplicate and result.plan_id is None
    report.completed_plans += result.completed
    report.unapplied += result.unapplied


def _check(store: Store, source: RowFile, problems: Problems, zone: ZoneInfo, progress: Progress | None) -> int:
    """Pass 1: every row checked; the good ones staged. Returns how many were staged."""
    chunk: list[tuple] = []
    staged = 0
    for number, raw in source.rows():
        if isinstance(raw, str):
            problems.add_row([Problem(number, None, raw)])
            continue
        row, row_problems = _validate(raw, number, store, zone)
        if row_problems:
            problems.add_row(row_problems)
            continue
        chunk.append((number, *row))
        if len(chunk) >= STAGE_CHUNK:
            store.stage_payments(chunk)
            staged += len(chunk)
            chunk = []
            if progress:
                progress("checking", source.bytes_read, source.size)
    store.stage_payments(chunk)
    return staged + len(chunk)
