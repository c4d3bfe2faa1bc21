"""What every CLI command shares: turning domain errors into one clear line."""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import click

from bot.errors import BotError
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
            raise CliError(str(exc)) from None

    return wrapper
