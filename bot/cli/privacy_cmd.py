"""`restructure-bot forget BORROWER_ID` and `restructure-bot backup PATH`."""
from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from bot.cli.common import CliError, cli_errors
from bot.wiring import open_store

KEPT = """Kept, because a lender must retain its financial records:
  loans (amounts, rates, dates), plans (terms, schedule, consent SHA-256 and time),
  instalments, payments, reminders sent (times and states), and the audit trail of events."""


@click.command("forget")
@click.argument("borrower_id", type=int)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@cli_errors
def forget(borrower_id: int, yes: bool) -> None:
    """Erase a borrower's personal data and message texts; keep the financial records."""
    store = open_store()
    if store.get_borrower(borrower_id) is None:
        raise CliError(f"no borrower {borrower_id}")
    if not yes:
        click.confirm(f"Erase the personal data of borrower {borrower_id}? This cannot be undone", abort=True)
    counts = store.forget_borrower(borrower_id, datetime.now(UTC))
    click.echo("Erased: name, phone, ID digits and Telegram link; " + ", ".join(
        f"{count} {what.replace('_', ' ')}" for what, count in counts.items() if what != "borrower") + ".")
    click.echo(KEPT)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@cli_errors
def backup(path: str) -> None:
    """Copy the database consistently with SQLite's online backup (safe while the bot runs)."""
    target = Path(path)
    if target.exists():
        raise CliError(f"{target}: already exists; choose a new file")
    open_store().backup_to(target)
    click.echo(f"backed up to {target} ({target.stat().st_size:,} bytes)")


COMMANDS = [forget, backup]
