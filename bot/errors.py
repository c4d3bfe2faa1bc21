"""Errors of the runtime (configuration, storage, loan import, invitations).

    BotError                  anything the runtime refuses; its text is one line for a person
    ├── ConfigError           a setting is missing or invalid (names the BOT_* variable)
    ├── StoreError            the database refused a write or holds something unexpected
    │   ├── ConflictError     another process saved the conversation first (optimistic lock)
    │   └── TurnNotCommitted  the database stayed locked through every retry of a turn
    ├── FileImportError       an import file has bad rows: `problems` = [(row, column, reason)]
    └── InviteError           an invitation token cannot be used: `reason` = unknown|used|expired

The engine's own errors live in `plans.errors`; the CLI turns both trees into one-line errors
(`bot.cli.common.cli_errors`), and the conversation maps `InviteError.reason` to a message key.
"""

from __future__ import annotations

from typing import Literal, NamedTuple


class BotError(Exception):
    """Base of the runtime's errors."""


class ConfigError(BotError):
    """A BOT_* setting is missing or invalid; the message starts with the variable's name."""


class StoreError(BotError):
    """The database refused an operation (unknown row, conflicting binding, newer schema)."""


class ConflictError(StoreError):
    """The conversation was saved by someone else since it was loaded: load it again and retry."""


class TurnNotCommitted(StoreError):
    """Another process held the database's write lock through every retry of a conversation
    turn: nothing of it was saved, and its update must not be confirmed to Telegram."""


class Problem(NamedTuple):
    """One thing wrong in an import file. `row` is 1-based (data rows; a CSV header is row 0)."""

    row: int
    column: str | None
    reason: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row else "header"
        return f"{where}, column {self.column}: {self.reason}" if self.column else f"{where}: {self.reason}"


class FileImportError(BotError):
    """A loan or payment file cannot be imported; the problems found are listed, one per line
    (the first ones, with `more` = how many others were counted but not listed)."""

    def __init__(self, problems: list[Problem], summary: str, *, more: int = 0) -> None:
        self.problems = problems
        self.summary = summary
        self.more = more
        rest = [f"... and {more} more problems"] if more else []
        super().__init__("\n".join([*map(str, problems), *rest, summary]))


InviteReason = Literal["unknown", "used", "expired"]


class InviteError(BotError):
    """An invitation token is unknown, already used, or expired (`reason`)."""

    _TEXT = {"unknown": "no such invitation", "used": "invitation already used", "expired": "invitation expired"}

    def __init__(self, reason: InviteReason) -> None:
        self.reason = reason
        super().__init__(self._TEXT[reason])
