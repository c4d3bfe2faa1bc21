"""The `restructure-bot` command line. Each command is a few lines calling the core; domain
errors become one line on stderr and a non-zero exit, never a traceback.

Commands live in small modules beside this one and are registered below.
"""
from __future__ import annotations

import click

from bot.cli.common import cli_errors


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="restructure-bot")
def main() -> None:
    """restructure-bot: personalised instalment plans for borrowers in arrears."""


def _register() -> None:
    from bot.cli import (
        bot_cmd,
        broadcast_cmd,
        loans_cmd,
        payments_cmd,
        plans_cmd,
        privacy_cmd,
        report_cmd,
        support_cmd,
    )

    for module in (bot_cmd, plans_cmd, loans_cmd, payments_cmd, support_cmd, broadcast_cmd, report_cmd,
                   privacy_cmd):
        for command in module.COMMANDS:
            main.add_command(command)


_register()

__all__ = ["main", "cli_errors"]
