"""The README is the front door: every CLI command is documented there, and the set-up, check
and test commands it shows are the ones CI runs (the checks before the tests)."""

from __future__ import annotations

import click

from bot.cli import main
from paths import README as README_PATH
from paths import ROOT

README = README_PATH.read_text(encoding="utf-8")


def commands(group: click.Group, prefix: str = "restructure-bot") -> list[str]:
    context = click.Context(group)
    found = []
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        path = f"{prefix} {name}"
        found.append(path)
        if isinstance(command, click.Group):
            found += [f"{path} {sub}" for sub in command.commands]
    return found


def test_every_module_command_is_reachable():
    """The lazy table in bot/cli/__init__.py names every command the modules define."""
    import importlib
    import pkgutil

    import bot.cli

    context = click.Context(main)
    for info in pkgutil.iter_modules(bot.cli.__path__):
        module = importlib.import_module(f"bot.cli.{info.name}")
        for command in getattr(module, "COMMANDS", []):
            assert main.get_command(context, command.name) is command


def test_every_command_is_in_the_readme():
    # `restructure-bot NAME` for a command; a sub-command may drop the program name
    # (`broadcast resume ID`) but not its group
    missing = [
        path
        for path in commands(main)
        if path not in README and (path.count(" ") < 2 or path.split(" ", 1)[1] not in README)
    ]
    assert missing == []


def test_ci_runs_the_readme_commands_checks_first():
    install, test = "pip install -e '.[test]'", "python -m pytest"
    check = "ruff check . && ruff format --check . && mypy"
    assert f"{install} && {test}" in README and check in README
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert ci.index(install) < ci.index(check) < ci.index(test)
    assert "restructure-bot chat --demo" in README


def test_the_engine_example_in_the_readme_is_what_the_engine_says():
    """ "How the plan engine decides" ends with the example case's figures: they are the quote's."""
    import json
    import re
    from decimal import Decimal

    from plans.engine import quote
    from plans.models import Case
    from plans.policy import default_policy

    case = Case.parse(json.loads((ROOT / "tests" / "data" / "case_card.json").read_text()))
    result = quote(case, default_policy())
    recommended = next(o for o in result.options if o.option_id == result.recommended)
    holiday = next(o for o in result.options if o.structure == "holiday")
    example = README[README.index("On the example case above") :]
    example = re.sub(r"\s+", " ", example[: example.index("## Architecture")])
    money = "{:,.2f}".format
    assert f"{money(result.budget.available)} a month available" in example
    assert f"`{result.recommended_because.key}`: {money(recommended.total_repayable)} in all" in example
    assert f"{money(Decimal(result.recommended_because.params['saves']))} less" in example
    *regular, last = holiday.schedule
    assert {r.payment for r in regular} == {regular[0].payment}  # one amount a month, then the last
    assert f"then {money(regular[0].payment)} a month" in example
    assert f"({money(last.payment)} the last payment" in example
