"""`restructure-bot forget BORROWER_ID` and `restructure-bot backup PATH`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from bot.cli.common import CliError, cli_errors
from bot.wiring import open_store

KEPT = """Kept, because a lender must retain its financial records:
  loans (amounts, rates, dates), plans (terms, schedule, consent SHA-256 and time), instalments,
  payments, reminders (times and states), and the times, steps and events of the conversation and
  audit trail, with every text erased and every Telegram id replaced by an alias that leads to nobody."""


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
    erasure = store.forget_borrower(borrower_id, datetime.now(UTC))
    if erasure.nothing:
        click.echo(f"Nothing more to erase: borrower {borrower_id} was already forgotten.")
    else:
        parts = ["name, phone, ID digits and Telegram link"] if erasure.counts["borrower"] else []
        parts += [
            f"{count} {what.replace('_', ' ')}"
            for what, count in erasure.counts.items()
            if count and what != "borrower"
        ]
        click.echo("Erased: " + ", ".join(parts) + ".")
        click.echo(KEPT)
    if not erasure.file_clean:
        click.echo(
            "Warning: another process kept the write-ahead log from being emptied; erased texts may remain"
            f" in {store.path}-wal until its next checkpoint. Run `forget {borrower_id}` again when the bot"
            " is idle.",
            err=True,
        )


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@cli_errors
def backup(path: str) -> None:
    """Copy the database consistently with SQLite's online backup (safe while the bot runs)."""
    target = Path(path)
    if target.exists():
        raise CliError(f"{target}: already exists; choose a new file")
    if not target.parent.is_dir():
        raise CliError(f"{target.parent}: no such folder; create it first")
    open_store().backup_to(target)
    click.echo(f"backed up to {target} ({target.stat().st_size:,} bytes)")


COMMANDS = [forget, backup]
