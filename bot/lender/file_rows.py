"""Reading a lender's .csv or .jsonl file as numbered rows, for every import command.

Rows are numbered from 1; a CSV header is not counted (in a JSONL file row N is line N). A
fault of the whole file (wrong type, not UTF-8, unknown or missing CSV columns) raises at
once; a line that cannot be read as a row is yielded as the reason (a `str`) so the caller
can report it with the others. JSONL numbers are parsed as Decimal, never float.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Collection, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.errors import FileImportError, Problem

Row = dict[str, Any] | str  # a row's cells, or why the line could not be read as a row


def read_rows(path: Path, *, known: Collection[str], required: Collection[str]) -> Iterator[tuple[int, Row]]:
    """(row number, cells) from a .csv or .jsonl file; faults of the whole file raise at once."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl"):
        raise FileImportError([], f"{path}: expected a .csv or .jsonl file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise FileImportError([], f"{path}: not UTF-8 text (save the file as UTF-8)") from None
    except OSError as exc:
        raise FileImportError([], f"{path}: cannot read: {exc.strerror}") from None
    return _csv_rows(text, path, known, required) if suffix == ".csv" else _jsonl_rows(text)


def _csv_rows(text: str, path: Path, known: Collection[str], required: Collection[str]) -> Iterator[tuple[int, Row]]:
    reader = csv.DictReader(text.splitlines())
    header = [name.strip() for name in reader.fieldnames or []]
    problems = [Problem(0, name, "unknown column") for name in header if name not in known]
    problems += [Problem(0, name, "missing column") for name in required if name not in header]
    if problems:
        raise FileImportError(problems, f"{path}: nothing imported, fix the header first")
    for number, row in enumerate(reader, start=1):
        # DictReader files surplus cells under the key None
        yield number, "more cells than the header has columns" if None in row else row


def _jsonl_rows(text: str) -> Iterator[tuple[int, Row]]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            yield number, f"not valid JSON: {exc.msg}"
            continue
        yield number, row if isinstance(row, dict) else "must be a JSON object"


