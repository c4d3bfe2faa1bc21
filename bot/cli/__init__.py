"""The `restructure-bot` command line. Each command is a few lines calling the core; domain
errors become one line on stderr and a non-zero exit, never a traceback.

Commands live in small modules beside this one, each listing its own in `COMMANDS`. A module
is imported only when one of its commands runs (or `--help` lists them), so `quote` does not
pay for python-telegram-bot, the web console or plotting.
"""

from __future__ import annotations

import importlib

import click

from bot.cli.common import cli_errors

#: command name -> the module (in bot/cli/) that defines it
COMMAND_MODULES = {
    "chat": "bot_cmd",
    "run": "bot_cmd",
    "reminders": "bot_cmd",
    "quote": "plans_cmd",
    "policy": "plans_cmd",
    "loans": "loans_cmd",
    "invite": "loans_cmd",
    "plans": "loans_cmd",
    "payments": "payments_cmd",
    "broadcast": "broadcast_cmd",
    "report": "report_cmd",
    "transcript": "support_cmd",
    "conversations": "support_cmd",
    "support-user": "support_cmd",
    "support": "support_cmd",
    "forget": "privacy_cmd",
    "backup": "privacy_cmd",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMAND_MODULES:
            return None
        module = importlib.import_module(f"bot.cli.{COMMAND_MODULES[name]}")
        return next(command for command in module.COMMANDS if command.name == name)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="restructure-bot")
def main() -> None:
    """restructure-bot: personalised instalment plans for borrowers in arrears."""


__all__ = ["main", "cli_errors"]
