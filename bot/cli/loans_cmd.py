"""`loans import`, `invite` and `plans list`: the lender's side of the bot's data.

Each command reads the settings, opens the store and calls one core function; errors become
one line (see `bot.cli.common.cli_errors`).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal

import click
import phonenumbers
from telegram.helpers import create_deep_linked_url

from bot.cli.common import CliError, ProgressBars, cli_errors
from bot.config import load_settings
from bot.lender.loans_import import import_loans
from bot.wiring import bot_username, open_store
from dialogs.parsing import InputError, parse_loan_number

USERNAME_PLACEHOLDER = "<bot username>"
#: phase -> (label, size from which a progress bar shows: bytes read, rows written)
IMPORT_PHASES = {"checking": ("checking rows", 1 << 20), "writing": ("writing loans", 20_000)}


def _region(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise click.BadParameter(f"{value!r} is not a country code such as CN, HK or US")
    return value.upper()


@click.group("loans")
def loans_group() -> None:
    """Loans and borrowers the bot may talk about."""


@loans_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="Import the good rows even if some are bad.")
@click.option(
    "--region",
    default="CN",
    show_default=True,
    callback=_region,
    help="Country (ISO code) of phone numbers written without a country code.",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=None,
    help="Processes checking the rows of a big file [default: one per CPU; 1 checks in this process].",
)
@cli_errors
def loans_import(file: str, skip_invalid: bool, region: str, workers: int | None) -> None:
    """Import or update loans from FILE (.csv with a header row, or .jsonl).

    Errors name the row and column; rows count from 1 and the CSV header is not counted (in
    JSONL, row N is line N). Every row is checked before anything is written; if any row is
    bad nothing is imported, unless --skip-invalid. Rows are then written in small batches
    (the bot is never blocked); a progress bar shows on a terminal for big files.
    """
    with open_store(load_settings()) as store, ProgressBars(IMPORT_PHASES) as progress:
        report = import_loans(store, file, skip_invalid=skip_invalid, region=region, progress=progress, workers=workers)
    for problem in report.skipped.shown:
        click.echo(f"skipped {problem}", err=True)
    if report.skipped.hidden:
        click.echo(f"skipped {report.skipped.hidden} more problems", err=True)
    click.echo(report.summary)


@click.command("invite")
@click.argument("loan_id")
@click.option(
    "--ttl-days", type=click.IntRange(1, 365), help="Days the link stays valid [default: BOT_INVITE_TTL_DAYS]."
)
@cli_errors
def invite(loan_id: str, ttl_days: int | None) -> None:
    """Create a single-use deep link inviting LOAN_ID's borrower; the last line is the token."""
    try:
        loan_id = parse_loan_number(loan_id)  # as the import stored it and the bot reads it typed
    except InputError:
        raise CliError(f"{loan_id!r} is not a loan number (letters A-Z, digits, '-' and '_')") from None
    settings = load_settings()
    username = asyncio.run(bot_username(settings)) if settings.token else None
    now, days = datetime.now(UTC), ttl_days or settings.invite_ttl_days
    with open_store(settings) as store:
        token = store.create_invite(loan_id, now, days)
    expires = now + timedelta(days=days)
    click.echo(
        f"invitation for loan {loan_id}, single use, valid until "
        f"{expires.astimezone(settings.tz):%Y-%m-%d %H:%M} ({settings.timezone})"
    )
    if username is None:
        click.echo(f"the link needs BOT_TOKEN to learn the bot's username; replace {USERNAME_PLACEHOLDER}")
    click.echo(create_deep_linked_url(username or USERNAME_PLACEHOLDER, token))
    click.echo(token)


@click.group("plans")
def plans_group() -> None:
    """Plans borrowers have accepted."""


def plan_summary(plan: dict, tz: tzinfo) -> dict[str, str | int]:
    """What `plans list` shows of a stored plan; amounts stay exact decimal strings."""
    low, high = plan["monthly_min"], plan["monthly_max"]
    return {
        "id": plan["id"],
        "loan_id": plan["loan_id"],
        "structure": plan["structure"],
        "payments": plan["payments"],
        "first_due_date": plan["first_due_date"].isoformat(),
        "currency": plan["currency"],
        "monthly": str(low) if low == high else f"{low}-{high}",
        "total_repayable": str(plan["total_repayable"]),
        "apr_percent": str((plan["apr"] * 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)),
        "accepted_at": plan["accepted_at"].astimezone(tz).isoformat(timespec="seconds"),
        "status": plan["status"],
    }


_COLUMNS = [
    ("loan_id", "<"),
    ("structure", "<"),
    ("payments", ">"),
    ("first_due_date", "<"),
    ("currency", "<"),
    ("monthly", ">"),
    ("total_repayable", ">"),
    ("apr_percent", ">"),
    ("accepted_at", "<"),
    ("status", "<"),
]


def plans_table(rows: list[dict]) -> str:
    """Columns as wide as their widest cell; APR shown as a percent."""
    header = {name: "APR %" if name == "apr_percent" else name for name, _ in _COLUMNS}
    widths = {name: max(len(str(r[name])) for r in [header, *rows]) for name, _ in _COLUMNS}
    return "\n".join(
        "  ".join(f"{str(r[name]):{align}{widths[name]}}" for name, align in _COLUMNS).rstrip() for r in [header, *rows]
    )


@plans_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (amounts as strings).")
@cli_errors
def plans_list(as_json: bool) -> None:
    """Accepted plans, newest first."""
    settings = load_settings()
    with open_store(settings) as store:
        rows = [plan_summary(plan, settings.tz) for plan in store.list_plans()]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    else:
        click.echo(plans_table(rows) if rows else "no accepted plans yet")


COMMANDS = [loans_group, invite, plans_group]
