"""The README is the front door: every CLI command is documented there, and the two set-up
commands it shows are the ones CI runs."""
from __future__ import annotations

from pathlib import Path

import click

from bot.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "restructure-bot") -> list[str]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix} {name}"
        found.append(path)
        if isinstance(command, click.Group):
            found += [f"{path} {sub}" for sub in command.commands]
    return found


def test_every_command_is_in_the_readme():
    # `restructure-bot NAME` for a command; a sub-command may drop the program name
    # (`broadcast resume ID`) but not its group
    missing = [path for path in commands(main)
               if path not in README and (path.count(" ") < 2 or path.split(" ", 1)[1] not in README)]
    assert missing == []


def test_ci_runs_the_readme_test_command():
    test_command = "pip install -e '.[test]' && python -m pytest"
    assert test_command in README
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "restructure-bot chat --demo" in README
