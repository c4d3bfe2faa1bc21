"""`restructure-bot payments import FILE`: confirmed payments from the lender's books."""
from __future__ import annotations

import click

from bot.cli.common import cli_errors
from bot.config import load_settings
from bot.lender.payments_import import import_payments
from bot.wiring import open_store


@click.group("payments")
def payments_group() -> None:
    """Payments received."""


@payments_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@cli_errors
def payments_import(file: str) -> None:
    """Apply payments from a .csv or .jsonl file (loan_id, amount, paid_at, reference).

    Each is applied to the loan's active plan, oldest unpaid instalment first; references
    already imported are skipped; nothing is applied if any row is bad."""
    settings = load_settings()
    click.echo(import_payments(open_store(settings), file, settings.tz).summary)


COMMANDS = [payments_group]
