"""`restructure-bot report`: the funnel, plan outcomes, collections and unreachable borrowers."""

from __future__ import annotations

from datetime import datetime

import click

from bot.cli.common import cli_errors
from bot.config import load_settings
from bot.lender.reports import FORMATS, build_report, render
from bot.wiring import open_store


@click.command("report")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True)
@click.option(
    "--since",
    type=click.DateTime(["%Y-%m-%d"]),
    default=None,
    help="Only what happened from this day (YYYY-MM-DD, BOT_TIMEZONE) on.",
)
@cli_errors
def report(fmt: str, since: datetime | None) -> None:
    """How borrowers are doing: funnel, plans chosen, outcomes and cure rate, collections."""
    settings = load_settings()
    result = build_report(open_store(settings), tz=settings.tz, since=since.date() if since else None)
    click.echo(render(result, fmt), nl=fmt != "csv")


COMMANDS = [report]
