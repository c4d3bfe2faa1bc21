"""What every CLI command shares: turning errors into one clear line (never a traceback), and
progress bars for long jobs."""

from __future__ import annotations

import functools
import sqlite3
import sys
from collections.abc import Callable
from typing import Any

import click

from bot.errors import BotError
from bot.terminal import printable
from plans.errors import PlanError


class CliError(click.ClickException):
    """A one-line error for the user; exit status 1."""


def cli_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run `func`, turning the project's domain errors into a one-line CliError."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (PlanError, BotError) as exc:
            raise CliError(printable(str(exc))) from None
        except sqlite3.Error as exc:  # e.g. a database file that is not one, a full disk
            raise CliError(printable(f"database: {exc}")) from None
        except OSError as exc:  # a folder that does not exist, no permission...
            where = f"{exc.filename}: " if exc.filename else ""
            raise CliError(printable(f"{where}{exc.strerror or exc}")) from None
        except Exception as exc:
            # Telegram's errors (network down, token refused) wherever a command talks to it;
            # looked up lazily so that commands which never load python-telegram-bot stay quick
            telegram_error = sys.modules.get("telegram.error")
            if telegram_error is not None and isinstance(exc, telegram_error.TelegramError):
                raise CliError(printable(f"Telegram: {exc}")) from None
            raise

    return wrapper


class ProgressBars:
    """`progress(phase, done, total)` for a long job: one click progress bar per phase on
    stderr, only when stderr is a terminal (cron logs stay clean) and the phase is long.
    `phases` maps each phase to its label and the `total` from which a bar is worth showing
    (smaller jobs are done before a bar would help). Use as a context manager."""

    def __init__(self, phases: dict[str, tuple[str, int]]) -> None:
        self.phases = phases
        self.bars: dict[str, Any] = {}
        self.shown = sys.stderr.isatty()

    def __call__(self, phase: str, done: int, total: int) -> None:
        label, worth_it = self.phases.get(phase, (phase, 0))
        if not self.shown or total < worth_it:
            return
        if phase not in self.bars:
            for bar in self.bars.values():
                bar.render_finish()
            self.bars[phase] = click.progressbar(length=total, label=label, file=sys.stderr)
        bar = self.bars[phase]
        bar.update(done - bar.pos)

    def __enter__(self) -> ProgressBars:
        return self

    def __exit__(self, *exc: object) -> None:
        for bar in self.bars.values():
            bar.render_finish()
