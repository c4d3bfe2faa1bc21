"""`restructure-bot chat` (the dialogue in a terminal) and `restructure-bot run` (Telegram)."""

from __future__ import annotations

import asyncio
import tempfile
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import click
from telegram.error import InvalidToken, TelegramError
from telegram.ext import ContextTypes

from bot.cli.common import CliError, cli_errors
from bot.config import load_settings
from bot.console import Console
from bot.demo import DEMO_LOANS, load_demo
from bot.errors import BotError, ConfigError
from bot.lender.reminders import dry_run as dry_run_pass
from bot.store import Store
from bot.tg.app import build_application
from bot.tg.polling import run_polling
from bot.wiring import make_bot, make_conversations, make_dispatcher, open_store

REMINDER_INTERVAL = 60  # seconds between passes over the reminder outbox
FUTURE_SLACK = timedelta(minutes=5)  # clocks differ a little; more than this ahead is a mistake


DEMO_INTRO = {
    "en": "Demo database with sample loans. When asked, type a loan number, then its ID last 4:",
    "zh_CN": "演示数据库，内含示例贷款。按提示输入贷款编号，再输入身份证号后 4 位：",
}
DEMO_DATABASE = {
    "en": (
        "The demo's database is {path}; try the lender's commands on it,"
        " e.g. BOT_DATABASE={path} restructure-bot report"
    ),
    "zh_CN": (
        "演示数据库位于 {path}。可以用贷款机构的命令查看其中的数据，例如：BOT_DATABASE={path} restructure-bot report"
    ),
}


def _demo_intro(locale: str) -> str:
    lines = [DEMO_INTRO[locale]]
    lines += [f"  {row['loan_id']}  {row['id_last4']}  ({row['product']})" for row in DEMO_LOANS]
    return "\n".join(lines)


@click.command("chat")
@click.option("--demo", is_flag=True, help="Use a demo database with sample loans (a new one, or --database).")
@click.option(
    "--database",
    type=click.Path(dir_okay=False),
    default=None,
    help="The database to talk on [default: BOT_DATABASE; with --demo a new temporary file].",
)
@click.option("--lang", type=click.Choice(["zh_CN", "en"]), default=None, help="Language of the conversation.")
@cli_errors
def chat(demo: bool, database: str | None, lang: str | None) -> None:
    """Talk to the bot in this terminal (buttons are numbered choices); resumes where it was."""
    settings = load_settings()
    locale = lang or settings.default_locale
    path = Path(database) if database else None
    if demo and path is None:
        path = Path(tempfile.mkdtemp(prefix="restructure-demo-")) / "demo.db"
    if path is not None and not path.parent.is_dir():
        raise CliError(f"{path.parent}: no such folder")
    store = Store(path) if path is not None else open_store(settings)
    where = ""
    if demo:
        assert path is not None  # made above for --demo
        load_demo(store)
        where = DEMO_DATABASE[locale].format(path=path.resolve())
        click.echo(_demo_intro(locale))
        click.echo(where)
    conversations = make_conversations(
        settings.model_copy(update={"default_locale": locale}), store, binds_accounts=False
    )
    Console(conversations, language_code=lang).run()
    if demo:
        click.echo(where)


@click.command("run")
@click.option("--webhook-url", default=None, help="Receive updates by webhook at this public URL.")
@click.option("--listen", default="127.0.0.1", show_default=True, help="Webhook listen address.")
@click.option("--port", default=8443, show_default=True, help="Webhook listen port.")
@click.option(
    "--secret-token",
    default=None,
    help="Webhook secret token (default: BOT_WEBHOOK_SECRET, environment or .env); required with --webhook-url.",
)
@cli_errors
def run(webhook_url: str | None, listen: str, port: int, secret_token: str | None) -> None:
    """Run the Telegram bot (long polling, or a webhook with --webhook-url)."""
    settings = load_settings()
    conversations = make_conversations(settings)
    application = build_application(
        conversations,
        token=settings.require_token(),
        base_url=settings.api_url,
        base_file_url=settings.api_file_url,
        admin_ids=settings.admin_ids,
    )
    dispatcher = make_dispatcher(settings, conversations)

    async def send_reminders(context: ContextTypes.DEFAULT_TYPE) -> None:
        await dispatcher.run_once(context.bot)

    assert application.job_queue is not None  # the job-queue extra is a dependency
    application.job_queue.run_repeating(send_reminders, interval=REMINDER_INTERVAL, first=5)
    if webhook_url:
        if not secret_token and settings.webhook_secret is not None:
            secret_token = settings.webhook_secret.get_secret_value()
        if not secret_token:
            raise click.UsageError("--webhook-url needs a secret token (--secret-token or BOT_WEBHOOK_SECRET)")
        from bot.tg.webhook import run_webhook

        asyncio.run(
            run_webhook(
                application,
                listen=listen,
                port=port,
                webhook_url=webhook_url,
                path=urlsplit(webhook_url).path.strip("/"),
                secret_token=secret_token,
            )
        )
    else:
        asyncio.run(run_polling(application))


@click.group("reminders")
def reminders_group() -> None:
    """The reminder outbox."""


@reminders_group.command("send")
@click.option(
    "--as-of",
    type=click.DateTime(),
    default=None,
    help="Treat this past moment (in BOT_TIMEZONE) as now: send what was due by then.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be sent and changed; send and change nothing.")
@cli_errors
def reminders_send(as_of: datetime | None, dry_run: bool) -> None:
    """Send due reminders once (for cron, or to catch up after downtime)."""
    settings = load_settings()
    moment = as_of.replace(tzinfo=settings.tz) if as_of else None
    if moment and moment > datetime.now(settings.tz) + FUTURE_SLACK:
        raise CliError(
            f"--as-of {as_of:%Y-%m-%d %H:%M} is in the future ({settings.timezone}); a pass only"
            " catches up on what is already due"
        )
    dispatcher = make_dispatcher(settings, make_conversations(settings))
    if dry_run:
        click.echo(asyncio.run(dry_run_pass(dispatcher, moment)).describe(settings.tz))
        return

    async def once() -> Counter:
        try:
            async with make_bot(settings) as bot:
                return await dispatcher.run_once(bot, moment)
        except InvalidToken:
            raise ConfigError("BOT_TOKEN: Telegram does not accept this token") from None
        except TelegramError as exc:
            raise BotError(f"cannot reach Telegram at {settings.api_url}: {exc}") from None

    outcome = asyncio.run(once())
    click.echo(", ".join(f"{status}: {count}" for status, count in sorted(outcome.items())) or "nothing due")


COMMANDS = [chat, run, reminders_group]
