"""Import loans and their borrowers from a lender's CSV or JSONL file, of any size.

Two passes, so "all or nothing" holds while memory stays flat and the bot is never blocked:

1. *Check*: the file is streamed row by row. Each row is checked on its own: the loan columns
   by the engine's own `plans.models.Loan` (so the bot never holds a loan the engine would
   refuse; every bad column is reported, not only the first), the borrower columns and the
   sanity of the amounts here (README, "Loan import columns"). Rows that pass are staged in a TEMP
   table; then clashes between rows (a loan listed twice, one phone with two ID endings) are
   found with SQL over the whole file. Every problem is counted and the first
   `Problems.LIMIT` are listed as `row N, column C: reason` (rows count from 1, a CSV header
   is not counted; in a JSONL file row N is line N).
2. *Write*, only if nothing is wrong (or `skip_invalid` asks for the good rows anyway): the
   staged rows are written in batches of `BATCH` rows, each in its own short transaction. A
   re-import updates by `loan_id`, so an import stopped half-way (Ctrl-C, a crash) is finished
   by running it again.

Amounts never pass through float: CSV cells are strings and JSONL is parsed with
`parse_float=Decimal`. Phones are stored in E.164 and must be valid numbers for their country
(`12345` is not), so the same borrower is recognised however the lender typed the number. A
loan number is stored as the bot reads it when a borrower types it (`cc-5005` -> `CC-5005`);
one the bot could never accept (`XS-<b>4`) is refused.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from bot.errors import BotError, Problem
from bot.lender.file_rows import (
    Chunk,
    Problems,
    Progress,
    RowFile,
    clean_cells,
    first_per_column,
    parse_chunk,
)
from bot.phones import valid_phone
from bot.store import Store
from bot.store.imports import staged_loan
from bot.terminal import control_character, shown
from dialogs.parsing import InputError, parse_loan_number
from plans.models import Loan

BORROWER_COLUMNS = ("borrower_name", "phone", "id_last4", "locale", "timezone")
REQUIRED_BORROWER_COLUMNS = ("borrower_name", "phone", "id_last4")
LOCALES = ("zh_CN", "en")
LOAN_COLUMNS = frozenset(Loan.model_fields)
KNOWN_COLUMNS = LOAN_COLUMNS | frozenset(BORROWER_COLUMNS)
REQUIRED_COLUMNS = tuple(n for n, f in Loan.model_fields.items() if f.is_required()) + REQUIRED_BORROWER_COLUMNS
MAX_NAME = 100  # characters of a borrower's name
BATCH = 5000  # rows written per transaction: about 50 ms of the write lock (BENCHMARKS.md)
CHUNK = 2000  # rows checked together (by one worker process, for a big file)
PARALLEL_FROM = 1 << 20  # bytes: smaller files are checked before worker processes would have started
_ID_LAST4 = re.compile(r"^[0-9]{3}[0-9X]$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_TYPED_LOAN_NUMBER = re.compile(r"[A-Z0-9][A-Z0-9_-]{0,63}")  # what `parse_loan_number` returns unchanged


@dataclass
class ImportReport:
    """What an import did: loans created and updated, distinct borrowers, rows skipped."""

    new: int = 0
    updated: int = 0
    borrowers: int = 0
    skipped: Problems = field(default_factory=Problems)
    workers: int = 1  # processes that checked the rows

    @property
    def summary(self) -> str:
        return (
            f"imported {self.new + self.updated} loans ({self.new} new, {self.updated} updated)"
            f" for {self.borrowers} borrowers"
        )


# --------------------------------------------------------------------------- one row


@functools.lru_cache(maxsize=512)
def _time_zone(name: str) -> ZoneInfo | None:
    """A borrower's time zone decides when their reminders arrive (10:00 their time)."""
    try:
        return ZoneInfo(name)
    except (ValueError, TypeError, KeyError, OSError):  # ZoneInfoNotFoundError is a KeyError
        return None


def _loan_problems(exc: ValidationError, data: dict, number: int) -> list[Problem]:
    """Every column pydantic found wrong (not only the first), as the engine words it."""
    problems = []
    for error in exc.errors():
        column = str(error["loc"][0]) if error["loc"] else None
        got = f" (got {shown(data[column])})" if column in data else ""
        problems.append(Problem(number, column, error["msg"].removeprefix("Value error, ") + got))
    return problems


def _sanity(loan: Loan, number: int) -> list[Problem]:
    """Amounts that are each valid but together cannot describe a loan in arrears."""
    problems = []
    if loan.remaining_term_months < 1:
        problems.append(Problem(number, "remaining_term_months", "must be at least 1 (months left on the loan)"))
    if loan.monthly_payment <= 0:
        problems.append(Problem(number, "monthly_payment", "must be more than 0 (the contractual monthly payment)"))
    if loan.overdue_principal > loan.outstanding_principal:
        problems.append(
            Problem(
                number,
                "overdue_principal",
                f"{loan.overdue_principal} is more than the outstanding principal {loan.outstanding_principal}",
            )
        )
    overdue = loan.overdue_principal + loan.overdue_interest + loan.penalty_fees
    if loan.days_past_due == 0 and overdue > 0:
        problems.append(Problem(number, "days_past_due", f"is 0, yet {overdue} is overdue"))
    elif loan.days_past_due > 0 and overdue == 0:
        problems.append(Problem(number, "days_past_due", f"is {loan.days_past_due}, yet nothing is overdue"))
    return problems


def validate_row(raw: dict[str, Any], number: int, region: str = "CN") -> tuple[dict, list[Problem]]:
    """The row ready for the store (`bot.store.imports.staged_loan`), or its problems.
    (Every row of a file passes here: it is written for speed as much as for reading.)"""
    data, problems = clean_cells(raw, number)
    unknown = not data.keys() <= KNOWN_COLUMNS
    if unknown:
        problems += [Problem(number, shown(c)[1:-1], "unknown column") for c in data if c not in KNOWN_COLUMNS]
    problems += [Problem(number, c, "is required") for c in REQUIRED_BORROWER_COLUMNS if c not in data]
    borrower = {key: str(data.pop(key)) for key in BORROWER_COLUMNS if key in data}
    problems += _borrower_problems(borrower, number, region)
    if "loan_id" in data:
        loan_id = str(data["loan_id"])
        if not _TYPED_LOAN_NUMBER.fullmatch(loan_id):  # (already as the bot reads it: most files)
            try:
                loan_id = parse_loan_number(loan_id)
            except InputError:
                problems.append(
                    Problem(
                        number,
                        "loan_id",
                        f"{shown(loan_id)} cannot be typed by a borrower:"
                        " use letters A-Z, digits, '-' and '_' (64 at most)",
                    )
                )
                loan_id = "-"  # reported: the loan's other columns are still checked
        data["loan_id"] = loan_id
    due = data.get("next_due_date")
    if due is not None and not (isinstance(due, str) and _ISO_DATE.match(due)):
        problems.append(Problem(number, "next_due_date", f"must be a date as YYYY-MM-DD, not {shown(due)}"))
        del data["next_due_date"]
    try:
        loan = Loan.model_validate({k: v for k, v in data.items() if k in LOAN_COLUMNS} if unknown else data)
    except ValidationError as exc:
        problems += [
            p
            for p in _loan_problems(exc, data, number)
            if p.column != "next_due_date" or due is None or "next_due_date" in data
        ]
        return {}, first_per_column(problems)
    problems += _sanity(loan, number)
    return {**loan.__dict__, **borrower}, first_per_column(problems) if problems else problems


def _borrower_problems(borrower: dict[str, str], number: int, region: str) -> list[Problem]:
    """Check (and normalise, in place) the borrower columns of a row."""
    problems = []
    name = borrower.get("borrower_name")
    if name is not None:
        if (char := control_character(name)) is not None:
            problems.append(Problem(number, "borrower_name", f"contains a control character ({char}): {shown(name)}"))
        elif len(name) > MAX_NAME:
            problems.append(Problem(number, "borrower_name", f"longer than {MAX_NAME} characters"))
    if "phone" in borrower:
        try:
            borrower["phone"] = valid_phone(borrower["phone"], region)
        except ValueError as exc:
            problems.append(Problem(number, "phone", str(exc)))
    if "id_last4" in borrower:
        borrower["id_last4"] = borrower["id_last4"].upper()
        if not _ID_LAST4.match(borrower["id_last4"]):
            problems.append(Problem(number, "id_last4", "must be the last 4 characters of the ID: digits, X only last"))
    if "locale" in borrower and borrower["locale"] not in LOCALES:
        problems.append(Problem(number, "locale", f"must be one of {', '.join(LOCALES)}"))
    if "timezone" in borrower and _time_zone(borrower["timezone"]) is None:
        problems.append(
            Problem(
                number,
                "timezone",
                f"must be an IANA time zone such as Asia/Shanghai, not {shown(borrower['timezone'])}",
            )
        )
    return problems


# --------------------------------------------------------------------------- the file


def import_loans(
    store: Store,
    path: str | Path,
    *,
    skip_invalid: bool = False,
    region: str = "CN",
    progress: Progress | None = None,
    workers: int | None = None,
) -> ImportReport:
    """Check every row, then write the good ones in batches (see the module docstring).
    `workers`: processes that check the rows of a big file in parallel (default:
    `default_workers()`; 1 checks in this process)."""
    source = RowFile(path, known=KNOWN_COLUMNS, required=REQUIRED_COLUMNS)
    problems = Problems()
    workers = workers or default_workers()
    if source.size < PARALLEL_FROM:
        workers = 1
    store.start_loan_staging()
    try:
        offset = 0  # rows of the chunks before
        for used, staged, bad_rows in _checked_chunks(source, region, workers):
            store.stage_loans([(offset + number, *row) for number, *row in staged])
            for row_problems in bad_rows:
                problems.add_row([p._replace(row=offset + p.row) for p in row_problems])
            offset += used
            if progress:
                progress("checking", source.bytes_read, source.size)
        clashes, count = store.staged_loan_clashes(Problems.LIMIT)
        problems.merge((Problem(*clash) for clash in clashes), count, count)
        last, good, borrowers = store.staged_loan_totals()
        if problems and not skip_invalid:
            raise problems.error(
                f"nothing imported: {problems.rows} bad rows"
                f" (fix them, or use --skip-invalid to import the {good} good ones)"
            )
        report = ImportReport(borrowers=borrowers, skipped=problems, workers=workers)
        with store.bulk_writes():
            for first in range(1, last + 1, BATCH):
                new, updated = store.write_staged_loans(first, first + BATCH - 1)
                report.new += new
                report.updated += updated
                if progress:
                    progress("writing", report.new + report.updated, good)
        return report
    finally:
        store.drop_staging()


def default_workers() -> int:
    """One process per CPU this process may use: a big file's rows are checked in parallel
    while this process stages and writes them (bench/imports.py, BENCHMARKS.md). `--workers 1`
    checks in this process, for a machine whose cores are busy with other work."""
    return len(os.sched_getaffinity(0))


Checked = tuple[int, list[tuple], list[list[Problem]]]


def check_chunk(chunk: Chunk, region: str) -> Checked:
    """Read and check a chunk's rows, each on its own: (how many row numbers the chunk used,
    the good rows as staged, each bad row's problems), numbered within the chunk. A pure
    function of its arguments, so a big file's chunks are checked in worker processes."""
    staged: list[tuple] = []
    bad: list[list[Problem]] = []
    rows = parse_chunk(chunk)
    while True:
        try:
            number, raw = next(rows)
        except StopIteration as done:
            return done.value, staged, bad
        if isinstance(raw, str):
            bad.append([Problem(number, None, raw)])
            continue
        row, row_problems = validate_row(raw, number, region)
        if row_problems:
            bad.append(row_problems)
        else:
            staged.append((number, *staged_loan(row)))


def _checked_chunks(source: RowFile, region: str, workers: int) -> Iterator[Checked]:
    """Pass 1, chunk by chunk in file order: in this process, or for a big file in `workers`
    processes (checking is pure Python, so threads would not run it in parallel). The
    workers are handed whole rows as text and hand back what to stage, and at most two
    chunks per worker are in flight, so memory stays flat."""
    chunks = source.chunks(CHUNK)
    if workers < 2:
        yield from (check_chunk(chunk, region) for chunk in chunks)
        return
    # fork: the workers start at once with this module loaded, and nothing re-runs __main__;
    # they only run `check_chunk`, never touching the database connection they inherit.
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
    try:
        pending: deque[Future] = deque()
        for chunk in chunks:
            pending.append(pool.submit(check_chunk, chunk, region))
            if len(pending) >= 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    except BrokenProcessPool:
        raise BotError(
            "a process checking rows stopped (out of memory?); nothing imported; try again with --workers 1"
        ) from None
    finally:
        pool.shutdown(cancel_futures=True)
