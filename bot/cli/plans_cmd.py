"""`restructure-bot quote` and `restructure-bot policy check`: the plan engine from the shell."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
from pydantic import TypeAdapter

from bot.cli.common import CliError, cli_errors
from plans.engine import quote
from plans.models import Case, Option, Quote
from plans.policy import Policy, default_policy, load_policy

_QUOTE_JSON = TypeAdapter(Quote)


def read_case(source: str) -> Case:
    """Read a case from a file path or '-' (stdin); numbers are parsed as Decimal, not float."""
    try:
        text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise CliError(f"{source}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise CliError(f"{source}: not UTF-8 text (byte {exc.start})") from None
    try:
        data: Any = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise CliError(f"{source}: not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None
    return Case.from_mapping(data)


def quote_as_json(result: Quote) -> str:
    """The quote with schedules; amounts and rates as decimal strings, dates as ISO."""
    return json.dumps(_QUOTE_JSON.dump_python(result, mode="json"), ensure_ascii=False, indent=2)


def _monthly(option: Option) -> str:
    """The regular payment as the chat states it (`Option.regular_range`)."""
    low, high = option.regular_range
    return f"{low}" if low == high else f"{low}-{high}"


def quote_as_table(result: Quote) -> str:
    header = f"{'option':<22} {'payments':>8} {'monthly':>19} {'total':>12} {'APR':>7}  affordable"
    budget = result.budget
    lines = [
        f"loan {result.loan_id} as of {result.as_of}: disposable income {result.disposable_income} "
        f"{result.currency}/month, affordable payment {result.affordable_payment} (at most "
        f"{budget.share * 100:.0f}% of it, leaving {budget.reserve}), payments on day {result.payment_day}",
        header,
    ]
    for option in result.options:
        mark = "*" if option.option_id == result.recommended else " "
        lines.append(
            f"{mark}{option.option_id:<21} {option.payments:>8} {_monthly(option):>19} "
            f"{option.total_repayable:>12} {option.apr * 100:>6.2f}%  {'yes' if option.affordable else 'no'}"
        )
    if result.recommended:
        lines.append(f"* recommended: {result.recommended} ({', '.join(r.key for r in result.recommended_reasons)})")
    elif result.status == "needs_approval":
        lines.append(
            f"needs approval: plans fit the budget but break {', '.join(result.blocked_by)}; "
            f"for approval: {', '.join(o.option_id for o in result.for_approval) or '-'}; "
            f"flags: {', '.join(result.flags)}"
        )
    else:
        closest = result.closest
        where = f" ({closest.month}: {closest.to_pay} to pay, {closest.available} available)" if closest else ""
        lines.append(
            f"no affordable plan: monthly shortfall {result.monthly_shortfall} {result.currency}{where}; "
            f"flags: {', '.join(result.flags)}"
        )
    return "\n".join(lines)


def _policy(path: str | None) -> Policy:
    return load_policy(path) if path else default_policy()


@click.command("quote")
@click.argument("case_file", metavar="CASE.json")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="Policy TOML (default: shipped).")
@click.option("--json", "as_json", is_flag=True, help="Print the options with full schedules as JSON.")
@cli_errors
def quote_command(case_file: str, policy_file: str | None, as_json: bool) -> None:
    """Quote restructuring options for CASE.json ('-' reads stdin)."""
    result = quote(read_case(case_file), _policy(policy_file))
    click.echo(quote_as_json(result) if as_json else quote_as_table(result))


@click.group("policy")
def policy_group() -> None:
    """Lender policy files."""


@policy_group.command("check")
@click.argument("policy_file", metavar="FILE", type=click.Path(dir_okay=False))
@cli_errors
def policy_check(policy_file: str) -> None:
    """Validate a policy file and print what is wrong (exit 1) or a summary (exit 0)."""
    policy = load_policy(policy_file)
    products = ", ".join(f"{name} (max {rules.max_term_months} months)" for name, rules in policy.products.items())
    click.echo(f"{policy_file}: ok: {policy.name}; APR cap {policy.apr_cap}; products: {products}")


COMMANDS = [quote_command, policy_group]
