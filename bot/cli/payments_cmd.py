"""`restructure-bot payments import FILE`: confirmed payments from the lender's books."""

from __future__ import annotations

import click

from bot.cli.common import ProgressBars, cli_errors
from bot.config import load_settings
from bot.lender.payments_import import import_payments
from bot.wiring import open_store

#: phase -> (label, size from which a progress bar shows: bytes read, payments applied)
PHASES = {"checking": ("checking rows    ", 1 << 20), "applying": ("applying payments", 2000)}


@click.group("payments")
def payments_group() -> None:
    """Payments received."""


@payments_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@cli_errors
def payments_import(file: str) -> None:
    """Apply payments from a .csv or .jsonl file (loan_id, amount, paid_at, reference).

    Every row is checked first and nothing is applied if any row is bad. Each payment is
    applied to the loan's active plan, oldest unpaid instalment first, in small batches;
    references already imported are skipped; each borrower is thanked once."""
    settings = load_settings()
    with open_store(settings) as store, ProgressBars(PHASES) as progress:
        report = import_payments(store, file, settings.tz, progress=progress)
    click.echo(report.summary)


COMMANDS = [payments_group]
