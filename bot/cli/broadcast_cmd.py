"""`restructure-bot broadcast ...`: message a segment of borrowers, resume, inspect."""

from __future__ import annotations

import asyncio
import getpass
import sys
from datetime import datetime

import click
from telegram.error import InvalidToken, TelegramError

from bot.cli.common import cli_errors
from bot.config import Settings, load_settings
from bot.errors import BotError, ConfigError
from bot.i18n import Translator, plain_text
from bot.lender.broadcasts import (
    DEFAULT_RATE,
    Counts,
    check_rate,
    create_broadcast,
    describe,
    load_message_file,
    parse_segment,
    prepare,
    send_broadcast,
    template_content,
)
from bot.store import Store
from bot.store.statuses import RecipientStatus
from bot.support.masking import mask_phone
from bot.wiring import make_bot, open_store

SEND_OPTIONS = ("segment", "template", "message_file", "dry_run", "paid")


def _send(settings: Settings, store: Store, broadcast_id: int, *, retry_in_doubt: bool = False) -> None:
    """Send with a progress bar on stderr; print the counts (Ctrl-C stops cleanly)."""
    todo = store.broadcast_counts(broadcast_id)
    total = todo[RecipientStatus.PENDING] + (todo[RecipientStatus.SENDING] if retry_in_doubt else 0)

    async def run(bar) -> Counts:
        try:
            async with make_bot(settings) as bot:
                return await send_broadcast(
                    store, bot, broadcast_id, progress=bar.update, tz=settings.tz, retry_in_doubt=retry_in_doubt
                )
        except InvalidToken:
            raise ConfigError("BOT_TOKEN: Telegram does not accept this token") from None
        except TelegramError as exc:
            raise BotError(f"cannot reach Telegram at {settings.api_url}: {exc}") from None

    try:
        with click.progressbar(length=total, label=f"broadcast {broadcast_id}", file=sys.stderr) as bar:
            counts = asyncio.run(run(bar))
    except KeyboardInterrupt:
        counts = Counts.of(store, broadcast_id)
        click.echo(
            f"broadcast {broadcast_id} interrupted: {counts.summary()}; continue with"
            f" `restructure-bot broadcast resume {broadcast_id}`",
            err=True,
        )
        sys.exit(130)
    click.echo(f"broadcast {broadcast_id}: {counts.summary()}")
    if counts.in_doubt:
        click.echo(
            f"{counts.in_doubt} in doubt: a crash came between their message and its answer, so they"
            " may or may not have it; `resume --retry-in-doubt` sends to them again",
            err=True,
        )


@click.group("broadcast", invoke_without_command=True)
@click.option("--segment", help="due-in:N, overdue, active, invited-not-started or all.")
@click.option("--template", help="A broadcast.NAME template of locales/*/broadcasts.toml.")
@click.option(
    "--message-file",
    type=click.Path(dir_okay=False),
    help="A text file, or TOML with en / zh_CN texts (sent as plain text).",
)
@click.option("--dry-run", is_flag=True, help="Show recipients and one sample per language; send nothing.")
@click.option("--rate", type=int, default=DEFAULT_RATE, show_default=True, help="Messages per second (max 30).")
@click.option("--paid", is_flag=True, help="Paid broadcast: up to 1000 messages/s (allow_paid_broadcast).")
@click.pass_context
@cli_errors
def broadcast(
    ctx: click.Context,
    segment: str | None,
    template: str | None,
    message_file: str | None,
    dry_run: bool,
    rate: int,
    paid: bool,
) -> None:
    """Message every borrower of a segment, each in their language, at Telegram's rate."""
    if ctx.invoked_subcommand is not None:
        if any(ctx.params[name] for name in SEND_OPTIONS) or rate != DEFAULT_RATE:
            raise click.UsageError(
                f"options go with `broadcast --segment ...`, not `broadcast {ctx.invoked_subcommand}`"
            )
        return
    if not segment or (template is None) == (message_file is None):
        raise click.UsageError("give --segment and either --template NAME or --message-file FILE")
    check_rate(rate, paid)
    settings, translator = load_settings(), Translator()
    store = open_store(settings)
    if template is not None:
        content = template_content(translator, template)
    else:
        assert message_file is not None  # one or the other, checked above
        content = load_message_file(message_file)
    prepared = prepare(
        store,
        parse_segment(segment),
        content,
        translator=translator,
        tz=settings.tz,
        default_locale=settings.default_locale,
    )
    if dry_run:
        click.echo(describe(prepared, plain=plain_text))
        return
    broadcast_id = create_broadcast(store, prepared, rate=rate, paid=paid, created_by=f"cli:{getpass.getuser()}")
    _send(settings, store, broadcast_id)


@broadcast.command("resume")
@click.argument("broadcast_id", metavar="ID", type=int)
@click.option(
    "--retry-in-doubt",
    is_flag=True,
    help="Also send to recipients left in doubt by a crash (they may get it twice);"
    " only when no other process is sending this broadcast.",
)
@cli_errors
def resume(broadcast_id: int, retry_in_doubt: bool) -> None:
    """Continue an interrupted broadcast: its pending recipients only, never anyone twice."""
    settings = load_settings()
    store = open_store(settings)
    if store.get_broadcast(broadcast_id) is None:
        raise BotError(f"no broadcast {broadcast_id}")
    _send(settings, store, broadcast_id, retry_in_doubt=retry_in_doubt)


def _timestamp(moment: datetime | None) -> str:
    """A time as the store holds it (UTC, microseconds), or nothing."""
    return "" if moment is None else moment.isoformat(timespec="microseconds")


@broadcast.command("show")
@click.argument("broadcast_id", metavar="ID", type=int)
@cli_errors
def show(broadcast_id: int) -> None:
    """Who got broadcast ID: each recipient's status (phones masked)."""
    store = open_store(load_settings())
    row = store.get_broadcast(broadcast_id)
    if row is None:
        raise BotError(f"no broadcast {broadcast_id}")
    click.echo(
        f"broadcast {broadcast_id}: {row['segment']}, {row['template'] or 'message file'}, {row['status']};"
        f" {Counts.of(store, broadcast_id).summary()}"
    )
    for r in store.broadcast_recipients(broadcast_id):
        click.echo(
            f"  {r['borrower_id']:>8}  {mask_phone(r['phone']):<16}  {r['locale']:<5}  {r['status']:<8}"
            f"  {_timestamp(r['sent_at'])}  {r['last_error'] or ''}".rstrip()
        )


@broadcast.command("list")
@cli_errors
def list_broadcasts() -> None:
    """The latest broadcasts with their counts."""
    store = open_store(load_settings())
    for row in store.list_broadcasts():
        c = row["counts"]
        click.echo(
            f"{row['id']:>5}  {row['created_at']:%Y-%m-%dT%H:%M}  {row['segment']:<20}"
            f"  {row['template'] or 'file':<22}  {row['status']:<11}"
            f"  sent {c[RecipientStatus.SENT]}, blocked {c[RecipientStatus.BLOCKED]},"
            f" failed {c[RecipientStatus.FAILED]}, in doubt {c[RecipientStatus.SENDING]},"
            f" pending {c[RecipientStatus.PENDING]}"
        )


COMMANDS = [broadcast]
