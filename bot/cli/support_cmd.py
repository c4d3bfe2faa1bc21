"""Support tools: `transcript`, `conversations`, `support-user add|disable|list`, and `support`
(the web console). Personal data is masked in everything they print."""

from __future__ import annotations

import ipaddress
import sys
from datetime import datetime

import click

from bot.cli.common import cli_errors
from bot.config import Settings, load_settings
from bot.i18n import LOCALES, Translator
from bot.support.auth import AccountError, add_user, check_new_password
from bot.support.transcripts import (
    TranscriptError,
    as_html,
    as_json,
    as_text,
    build_transcript,
    conversations_as_text,
    day_start,
    list_conversations,
)
from bot.terminal import printable  # texts typed by borrowers: no escape sequence reaches the terminal
from bot.wiring import open_store

DAY = click.DateTime(formats=["%Y-%m-%d"])


def _strong_password(password: str) -> str:
    try:
        check_new_password(password)
    except AccountError as exc:
        raise click.BadParameter(str(exc)) from None  # click asks again
    return password


def _since(value: datetime | None, settings: Settings) -> datetime | None:
    return day_start(value.date(), settings.tz) if value else None


@click.command("transcript")
@click.option("--chat", "chat_id", type=int, help="One chat id.")
@click.option("--loan", "loan_id", help="Every chat about this loan.")
@click.option("--borrower", "borrower_id", type=int, help="Every chat of this borrower.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "html"]), default="text", show_default=True)
@click.option("--since", type=DAY, help="Only messages from this day on (YYYY-MM-DD, BOT_TIMEZONE).")
@click.option("--lang", type=click.Choice(LOCALES), help="Language of the HTML page (default BOT_DEFAULT_LOCALE).")
@cli_errors
def transcript_command(
    chat_id: int | None,
    loan_id: str | None,
    borrower_id: int | None,
    fmt: str,
    since: datetime | None,
    lang: str | None,
) -> None:
    """Every message of a chat, loan or borrower, in order, personal data masked."""
    settings = load_settings()
    with open_store(settings) as store:
        entries = build_transcript(
            store, settings.tz, chat_id=chat_id, loan_id=loan_id, borrower_id=borrower_id, since=_since(since, settings)
        )
    if not entries:
        raise TranscriptError("no messages found for that selection")
    what = f"chat {chat_id}" if chat_id is not None else f"loan {loan_id}" if loan_id else f"borrower {borrower_id}"
    locale = lang or settings.default_locale
    translator = Translator()
    click.echo(
        printable(
            as_json(entries)
            if fmt == "json"
            else as_text(entries)
            if fmt == "text"
            else as_html(
                entries, translator, locale, translator.render(locale, "support.transcript.export_title", what=what)
            )
        )
    )


@click.command("conversations")
@click.option("--state", "step", help="Only conversations at this step (e.g. options, done).")
@click.option("--needs-person", is_flag=True, help="Only conversations waiting for a person.")
@click.option("--since", type=DAY, help="Only conversations active from this day on (YYYY-MM-DD).")
@cli_errors
def conversations_command(step: str | None, needs_person: bool, since: datetime | None) -> None:
    """List conversations: chat, borrower, masked name, loan, step, last activity."""
    settings = load_settings()
    with open_store(settings) as store:
        rows = list_conversations(
            store, settings.tz, step=step, needs_person=needs_person, since=_since(since, settings)
        )
    click.echo(printable(conversations_as_text(rows)))


@click.group("support-user")
def support_user_group() -> None:
    """Accounts of the support web console."""


@support_user_group.command("add")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@cli_errors
def support_user_add(name: str, password_stdin: bool) -> None:
    """Create an account (the password is asked twice, hidden)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, value_proc=_strong_password)
    with open_store() as store:
        user_id = add_user(store, name, password)
    click.echo(f"support user {name} created (id {user_id})")


@support_user_group.command("disable")
@click.argument("name")
@cli_errors
def support_user_disable(name: str) -> None:
    """Disable an account and end its sessions."""
    with open_store() as store:
        store.disable_support_user(name)
    click.echo(f"support user {name} disabled")


@support_user_group.command("list")
@cli_errors
def support_user_list() -> None:
    """Accounts, whether disabled, and their open sessions."""
    with open_store() as store:
        users = store.list_support_users()
    for user in users:
        state = "disabled" if user["disabled"] else "active"
        click.echo(f"{user['name']:<24} {state:<8} created {user['created_at']:%Y-%m-%d} sessions {user['sessions']}")


def _loopback(host: str) -> bool:
    """Is `host` reachable from this machine only?"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to any interface


@click.command("support")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--secure-cookie", is_flag=True, help="Mark cookies Secure (when served over HTTPS).")
@click.option(
    "--allow-plain-http",
    is_flag=True,
    help="Serve a non-loopback --host without --secure-cookie (passwords travel unencrypted).",
)
@cli_errors
def support_command(host: str, port: int, secure_cookie: bool, allow_plain_http: bool) -> None:
    """The support web console (login required; see `support-user add`)."""
    import uvicorn

    from bot.support.web import create_app

    if not _loopback(host) and not secure_cookie:
        if not allow_plain_http:
            raise click.UsageError(
                f"--host {host} would send passwords and session cookies over plain HTTP to the network: "
                "serve it behind HTTPS with --secure-cookie, or pass --allow-plain-http to accept that"
            )
        click.echo(
            f"WARNING: serving the support console on {host} over plain HTTP: passwords and session "
            "cookies can be read on the network (--allow-plain-http)",
            err=True,
        )
    settings = load_settings()
    with open_store(settings) as store:
        app = create_app(store, settings, Translator(), secure_cookies=secure_cookie)
        # access_log off: search terms (names, phone digits) are in query strings
        uvicorn.run(app, host=host, port=port, access_log=False, proxy_headers=False, server_header=False)


COMMANDS = [transcript_command, conversations_command, support_user_group, support_command]
