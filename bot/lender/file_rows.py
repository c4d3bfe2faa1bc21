"""Reading a lender's .csv or .jsonl file as numbered rows, one at a time, for every import.

A file is streamed, never held whole: memory does not grow with its size, and `bytes_read`
against `size` drives a progress bar. Rows are numbered from 1; a CSV header is not counted
and blank lines are skipped (in a JSONL file row N is line N). A fault of the whole file
(wrong type, unreadable, not UTF-8, unknown or missing CSV columns) raises `FileImportError`
at once; a row that cannot be read (a cell over the csv module's field limit, more cells than
columns, a line that is not a JSON object) is yielded as its reason, a `str`, so the caller
reports it with the others. JSONL numbers are parsed as Decimal, never float.

`Problems` collects what is wrong in a file: every problem is counted, the first `LIMIT` (in
row order) are kept to be shown, so a file with a million bad rows still fits in memory.
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import os
from collections.abc import Callable, Collection, Generator, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from bot.errors import FileImportError, Problem
from bot.terminal import shown

Row = dict[str, Any] | str  # a row's cells, or why the line could not be read as a row
#: progress(phase, done, total), told by an import as it goes: "checking" counts bytes of the
#: file, "writing" the rows written.
Progress = Callable[[str, int, int], None]


class Problems:
    """The problems of one file, in row order: all counted, the first LIMIT kept to show."""

    LIMIT = 100

    def __init__(self) -> None:
        self.shown: list[Problem] = []
        self.count = 0  # problems
        self.rows = 0  # distinct bad rows

    def add_row(self, problems: list[Problem]) -> None:
        """One row's problems (rows must come in order)."""
        if problems:
            self.rows += 1
            self.count += len(problems)
            self.shown.extend(problems[: self.LIMIT - len(self.shown)])

    def merge(self, problems: Iterable[Problem], count: int, rows: int) -> None:
        """Problems found after the rows were read (clashes between rows): `problems` in row
        order (at least the first LIMIT of them), `count` and `rows` in all."""
        self.shown = list(heapq.merge(self.shown, problems, key=lambda p: p.row))[: self.LIMIT]
        self.count += count
        self.rows += rows

    def __bool__(self) -> bool:
        return self.count > 0

    @property
    def hidden(self) -> int:
        return self.count - len(self.shown)

    def error(self, summary: str) -> FileImportError:
        return FileImportError(self.shown, summary, more=self.hidden)


@dataclass(frozen=True)
class Chunk:
    """Whole rows of a file, as text: `parse_chunk` reads them, here or in a worker process.
    Rows are numbered from 1 within the chunk; the caller adds how many the chunks before
    it used (`Chunk.used`, known once it is parsed)."""

    kind: str  # ".csv" or ".jsonl"
    header: tuple[str, ...]  # the CSV columns (empty for JSONL)
    text: str


class RowFile:
    """A lender's .csv or .jsonl file, read in chunks of whole rows (see the module docstring)."""

    def __init__(self, path: str | Path, *, known: Collection[str], required: Collection[str]) -> None:
        self.path = Path(path)
        self.kind = self.path.suffix.lower()
        if self.kind not in (".csv", ".jsonl"):
            raise FileImportError([], f"{self.path}: expected a .csv or .jsonl file")
        self.known, self.required = known, required
        try:
            self.size = os.stat(self.path).st_size
            if not self.path.is_file():
                raise IsADirectoryError(21, "not a file")
        except OSError as exc:
            raise FileImportError([], f"{self.path}: cannot read: {exc.strerror}") from None
        self.bytes_read = 0

    def rows(self) -> Iterator[tuple[int, Row]]:
        """(row number, cells or reason), streaming the file from its start."""
        offset = 0
        for chunk in self.chunks():
            rows = parse_chunk(chunk)
            while True:
                try:
                    number, row = next(rows)
                except StopIteration as done:
                    offset += done.value
                    break
                yield offset + number, row

    def chunks(self, lines: int = 2000) -> Iterator[Chunk]:
        """The file as chunks of about `lines` lines, each ending where a row ends (in a CSV
        file, never inside a quoted cell: there the count of quotes so far is even)."""
        self.bytes_read = 0
        try:
            handle = self.path.open("rb")
        except OSError as exc:
            raise FileImportError([], f"{self.path}: cannot read: {exc.strerror}") from None
        with handle:
            text = self._lines(handle)
            header = self._header(text) if self.kind == ".csv" else ()
            batch: list[str] = []
            open_quote = False
            for line in text:
                batch.append(line)
                if self.kind == ".csv" and line.count('"') % 2:
                    open_quote = not open_quote
                if len(batch) >= lines and not open_quote:
                    yield Chunk(self.kind, header, "".join(batch))
                    batch = []
            if batch:
                yield Chunk(self.kind, header, "".join(batch))

    def _lines(self, handle: BinaryIO) -> Iterator[str]:
        for number, raw in enumerate(handle, start=1):
            self.bytes_read += len(raw)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise FileImportError(
                    [], f"{self.path}: line {number} is not UTF-8 text (save the file as UTF-8)"
                ) from None
            yield line.removeprefix("\ufeff") if number == 1 else line

    def _header(self, lines: Iterator[str]) -> tuple[str, ...]:
        header = tuple(name.strip() for name in next(csv.reader([next(lines, "")]), []))
        problems = [Problem(0, shown(name)[1:-1], "unknown column") for name in header if name not in self.known]
        problems += [Problem(0, name, "missing column") for name in self.required if name not in header]
        if problems:
            for _ in lines:  # a file in another encoding is the likelier fault: say that instead
                pass
            raise FileImportError(problems, f"{self.path}: nothing imported, fix the header first")
        return header


def parse_chunk(chunk: Chunk) -> Generator[tuple[int, Row], None, int]:
    """(row number within the chunk, cells or reason) for each row; returns how many numbers
    the chunk used (CSV: rows, blank lines not counted; JSONL: lines)."""
    return _csv_rows(chunk) if chunk.kind == ".csv" else _jsonl_rows(chunk)


def _csv_rows(chunk: Chunk) -> Generator[tuple[int, Row], None, int]:
    reader = csv.reader(io.StringIO(chunk.text, newline=""))
    header, width, number = chunk.header, len(chunk.header), 0
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return number
        except csv.Error as exc:  # a cell over the field limit, a NUL byte...
            number += 1
            yield number, f"cannot be read as CSV: {exc}"
            continue
        if not cells:
            continue  # a blank line
        number += 1
        if len(cells) > width:
            yield number, "more cells than the header has columns"
        else:
            yield number, dict(zip(header, cells, strict=False))  # missing trailing cells are absent


def _jsonl_rows(chunk: Chunk) -> Generator[tuple[int, Row], None, int]:
    lines = chunk.text.split("\n")  # not splitlines(): a JSON string may hold U+2028
    if lines[-1] == "":
        lines.pop()  # the chunk's last newline ends a line, it does not start one
    number = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line, parse_float=Decimal)
        except json.JSONDecodeError as exc:
            yield number, f"not valid JSON: {exc.msg}"
            continue
        except RecursionError:
            yield number, "not valid JSON: nested too deeply"
            continue
        yield (
            number,
            {key.strip(): value for key, value in row.items()} if isinstance(row, dict) else "must be a JSON object",
        )
    return number


def clean_cells(raw: dict[str, Any], number: int) -> tuple[dict[str, Any], list[Problem]]:
    """Strip text cells and drop empty ones (a blank optional cell takes its default). A JSON
    list or object where one value belongs is a problem of its column, not a crash later.
    (Column names come stripped from `parse_chunk`.)"""
    cleaned: dict[str, Any] = {}
    problems: list[Problem] = []
    for key, value in raw.items():
        if type(value) is str:  # every CSV cell: the quick way
            if value := value.strip():
                cleaned[key] = value
            continue
        if isinstance(value, list | dict):
            kind = "list" if isinstance(value, list) else "object"
            problems.append(Problem(number, shown(key)[1:-1], f"must be a single value, not a JSON {kind}"))
            continue
        if value is not None:
            cleaned[key] = value
    return cleaned, problems


def first_per_column(problems: list[Problem]) -> list[Problem]:
    """One problem per column, the first found (a JSON list in `phone` is not also "required")."""
    seen: set[str] = set()
    kept = []
    for problem in problems:
        if problem.column is None:
            kept.append(problem)
        elif problem.column not in seen:
            kept.append(problem)
            seen.add(problem.column)
    return kept
