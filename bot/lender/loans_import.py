"""Import loans and their borrowers from a lender's CSV or JSONL file.

Every row is checked before anything is written: the loan columns by the engine's own
`plans.models.Loan` (so the bot never holds a loan the engine would refuse), the borrower
columns here. All problems are reported at once, as `row N, column C: reason`; rows are
numbered from 1 and a CSV header is not counted (in a JSONL file row N is line N). If any row
is bad nothing is imported, unless `skip_invalid` asks to import the good rows anyway.
Amounts never pass through float: CSV cells are strings and JSONL is parsed with
`parse_float=Decimal`. Phone numbers are stored in E.164 so the same borrower is recognised
however the lender typed the number.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from bot.errors import FileImportError, Problem
from bot.lender.file_rows import read_rows
from bot.store import Store
from plans.errors import CaseError
from plans.models import Loan

BORROWER_COLUMNS = ("borrower_name", "phone", "id_last4", "locale", "timezone")
REQUIRED_BORROWER_COLUMNS = ("borrower_name", "phone", "id_last4")
LOCALES = ("zh_CN", "en")
KNOWN_COLUMNS = frozenset(Loan.model_fields) | frozenset(BORROWER_COLUMNS)
_ID_LAST4 = re.compile(r"^[0-9]{3}[0-9X]$")
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


@dataclass
class ImportReport:
    """What an import did: loans created and updated, distinct borrowers, rows skipped."""

    new: int = 0
    updated: int = 0
    borrowers: int = 0
    skipped: list[Problem] = field(default_factory=list)

    @property
    def summary(self) -> str:
        return (f"imported {self.new + self.updated} loans ({self.new} new, {self.updated} updated)"
                f" for {self.borrowers} borrowers")


def normalise_phone(raw: str, region: str = "CN") -> str:
    """E.164 (`+8613800138000`) from any common way of writing a number; ValueError if none.

    A number without a country code is read as one of `region`. We check that the number is
    *possible* (right length for its country) rather than *valid* (in an allocated range):
    allocations change faster than the library's data, and refusing a real customer's number
    is worse than accepting a fictional-looking one such as (555) 010-9999.
    """
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_possible_number(number):
        raise ValueError(f"not a valid phone number {raw!r}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _clean(raw: dict[str, Any]) -> dict[str, Any]:
    """Strip text cells and drop empty ones, so a blank optional cell takes its default."""
    cleaned = {}
    for key, value in raw.items():
        if isinstance(value, str):
            value = value.strip()
        if value not in ("", None):
            cleaned[key.strip()] = value
    return cleaned


def validate_row(raw: dict[str, Any], number: int, region: str = "CN") -> tuple[dict, list[Problem]]:
    """The row ready for `Store.upsert_borrower_and_loan`, or the problems found in it."""
    data = _clean(raw)
    problems = [Problem(number, c, "unknown column") for c in data if c not in KNOWN_COLUMNS]
    problems += [Problem(number, c, "is required") for c in REQUIRED_BORROWER_COLUMNS if c not in data]
    if "phone" in data:
        try:
            data["phone"] = normalise_phone(str(data["phone"]), region)
        except ValueError as exc:
            problems.append(Problem(number, "phone", str(exc)))
    if "id_last4" in data:
        data["id_last4"] = str(data["id_last4"]).upper()
        if not _ID_LAST4.match(data["id_last4"]):
            problems.append(Problem(number, "id_last4",
                                    "must be the last 4 characters of the ID: digits, X only last"))
    if "locale" in data and data["locale"] not in LOCALES:
        problems.append(Problem(number, "locale", f"must be one of {', '.join(LOCALES)}"))
    if "timezone" in data and not _is_time_zone(data["timezone"]):
        problems.append(Problem(number, "timezone", f"must be an IANA time zone such as Asia/Shanghai,"
                                                    f" not {data['timezone']!r}"))
    due = data.get("next_due_date")
    if due is not None and not (isinstance(due, str) and _ISO_DATE.match(due)):
        problems.append(Problem(number, "next_due_date", f"must be a date as YYYY-MM-DD, not {due!r}"))
    else:
        loan_data = {k: v for k, v in data.items() if k in Loan.model_fields}
        try:
            loan = Loan.parse(loan_data)
        except CaseError as exc:
            got = f" (got {loan_data[exc.field]!r})" if exc.field in loan_data else ""
            problems.append(Problem(number, exc.field or None, exc.message + got))
        else:
            data.update(loan.model_dump())
    return data, problems


def _is_time_zone(name: Any) -> bool:
    """A borrower's time zone decides when their reminders arrive (10:00 their time)."""
    try:
        ZoneInfo(name)
    except (ValueError, TypeError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        return False
    return True


def import_loans(store: Store, path: str | Path, *, skip_invalid: bool = False,
                 region: str = "CN") -> ImportReport:
    """Validate every row, then write the good ones in one transaction (see module doc)."""
    path = Path(path)
    good: list[dict] = []
    problems: list[Problem] = []
    seen_loans: dict[str, int] = {}
    seen_phones: dict[str, tuple[int, str]] = {}
    required = [n for n, f in Loan.model_fields.items() if f.is_required()] + list(REQUIRED_BORROWER_COLUMNS)
    for number, raw in read_rows(path, known=KNOWN_COLUMNS, required=required):
        if isinstance(raw, str):
            problems.append(Problem(number, None, raw))
            continue
        row, row_problems = validate_row(raw, number, region)
        if not row_problems:
            row_problems = _clashes(row, number, seen_loans, seen_phones)
        problems += row_problems
        if not row_problems:
            seen_loans[row["loan_id"]] = number
            seen_phones.setdefault(row["phone"], (number, row["id_last4"]))
            good.append(row)
    if problems and not skip_invalid:
        raise FileImportError(
            problems,
            f"nothing imported: {len({p.row for p in problems})} bad rows"
            f" (fix them, or use --skip-invalid to import the {len(good)} good ones)",
        )
    report = ImportReport(skipped=problems, borrowers=len(seen_phones))
    with store.transaction():
        for row in good:
            if store.upsert_borrower_and_loan(row):
                report.new += 1
            else:
                report.updated += 1
    return report


def _clashes(row: dict, number: int, seen_loans: dict[str, int],
             seen_phones: dict[str, tuple[int, str]]) -> list[Problem]:
    """A loan listed twice, or one phone with two ID endings (the borrower could not then
    identify with both), is a mistake in the file, not something to settle silently."""
    if row["loan_id"] in seen_loans:
        return [Problem(number, "loan_id", f"duplicate of row {seen_loans[row['loan_id']]}")]
    first, last4 = seen_phones.get(row["phone"], (number, row["id_last4"]))
    if last4 != row["id_last4"]:
        return [Problem(number, "id_last4", f"differs from row {first}, which has the same phone")]
    return []
