"""`restructure-bot quote` and `restructure-bot policy check`, driven through click's CliRunner."""

from __future__ import annotations

import copy
import json
from decimal import Decimal as D
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from paths import DATA
from plan_cases import CARD
from plans.engine import quote
from plans.models import Case
from plans.policy import DEFAULT_POLICY_PATH, default_policy

CASE_FILE = DATA / "case_card.json"


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


def engine_quote():
    return engine_quote_of(CASE_FILE)


def engine_quote_of(path: Path):
    return quote(Case.from_mapping(json.loads(path.read_text(), parse_float=D)), default_policy())


def case_file(tmp_path: Path, change) -> Path:
    data = copy.deepcopy(CARD)
    change(data)
    path = tmp_path / "case.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def assert_one_line_error(result, *needles: str) -> None:
    assert result.exit_code != 0
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ")
    for needle in needles:
        assert needle in lines[0]
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- quote


def test_quote_table_lists_the_options_and_marks_the_recommended(run):
    result = run("quote", str(CASE_FILE))
    assert result.exit_code == 0, result.output
    expected = engine_quote()
    lines = result.stdout.splitlines()
    assert lines[0].startswith("loan CC-1001 as of 2026-11-28: disposable income 3000 CNY/month")
    assert "affordable payment 2400.00" in lines[0]
    rows = lines[2 : 2 + len(expected.options)]
    assert [row[1:].split()[0] for row in rows] == [o.option_id for o in expected.options]
    marked = [row for row in rows if row.startswith("*")]
    assert len(marked) == 1 and marked[0][1:].split()[0] == expected.recommended
    for row, option in zip(rows, expected.options, strict=True):
        cells = row[1:].split()
        assert cells[1] == str(option.payments)
        low, high = option.regular_range  # the monthly amount as the chat states it
        assert cells[2] == (str(low) if low == high else f"{low}-{high}")
        assert cells[3] == str(option.total_repayable)
        assert cells[5] == ("yes" if option.affordable else "no")
    assert lines[-1].startswith(f"* recommended: {expected.recommended} ({expected.recommended_because.key}, ")


def test_quote_json_has_decimal_strings_and_full_schedules(run):
    result = run("quote", str(CASE_FILE), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = engine_quote()
    assert data["loan_id"] == "CC-1001" and data["currency"] == "CNY"
    assert data["recommended"] == expected.recommended
    assert data["affordable_payment"] == "2400.00"
    assert [o["option_id"] for o in data["options"]] == [o.option_id for o in expected.options]
    for got, want in zip(data["options"], expected.options, strict=True):
        assert len(got["schedule"]) == len(want.schedule)
        assert got["total_repayable"] == str(want.total_repayable)
        assert got["apr"] == str(want.apr)
        for row, want_row in zip(got["schedule"], want.schedule, strict=True):
            for key in ("payment", "principal", "interest", "fees", "balance"):
                assert isinstance(row[key], str)
                assert D(row[key]) == getattr(want_row, key)
            assert row["due_date"] == want_row.due_date.isoformat()
        assert sum(D(r["principal"]) for r in got["schedule"]) == D(got["restructured_principal"])
        assert D(got["schedule"][-1]["balance"]) == 0
        assert {c["name"] for c in got["checks"]} >= {"term", "apr_cap", "min_installment"}


def test_quote_reads_stdin(run):
    result = run("quote", "-", "--json", input=CASE_FILE.read_text())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["recommended"] == engine_quote().recommended


def test_quote_with_a_policy_file(run, tmp_path):
    text = DEFAULT_POLICY_PATH.read_text().replace("max_share_of_disposable = 0.80", "max_share_of_disposable = 0.50")
    policy = tmp_path / "tight.toml"
    policy.write_text(text)
    result = run("quote", str(CASE_FILE), "--policy", str(policy), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["affordable_payment"] == "1500.00"  # half of 3,000


def test_quote_without_an_affordable_plan_says_so(run, tmp_path):
    # No income to spare now and none expected back (no recovery: no payment holiday).
    path = case_file(
        tmp_path,
        lambda d: d["finances"].update(monthly_income="6000", savings_available="0", expected_recovery_months=0),
    )
    result = run("quote", str(path))
    assert result.exit_code == 0
    assert "*" not in "".join(line[:1] for line in result.stdout.splitlines()[2:])
    last = result.stdout.splitlines()[-1]
    shortfall = engine_quote_of(path).monthly_shortfall
    assert shortfall > 0
    assert last.startswith(f"no affordable plan: monthly shortfall {shortfall} CNY (")
    assert "no_affordable_plan" in last and "offer_person" in last


def test_quote_blocked_by_the_replan_limit_needs_approval_not_a_shortfall(run, tmp_path):
    path = case_file(tmp_path, lambda d: d["loan"].update(prior_restructures=2))
    result = run("quote", str(path))
    assert result.exit_code == 0
    last = result.stdout.splitlines()[-1]
    assert last.startswith("needs approval: plans fit the budget but break replan_limit; for approval: ")
    assert "shortfall" not in result.stdout
    data = json.loads(run("quote", str(path), "--json").stdout)
    assert data["status"] == "needs_approval" and data["blocked_by"] == ["replan_limit"]
    assert data["monthly_shortfall"] == "0.00" and data["for_approval"]


def test_malformed_json(run):
    result = run("quote", "-", input='{"as_of": "2026-11-28", "loan": {')
    assert_one_line_error(result, "-: not valid JSON", "line 1")


def test_missing_field(run, tmp_path):
    path = case_file(tmp_path, lambda d: d["loan"].pop("annual_rate"))
    assert_one_line_error(run("quote", str(path)), "loan.annual_rate")


def test_missing_section(run, tmp_path):
    path = case_file(tmp_path, lambda d: d.pop("finances"))
    assert_one_line_error(run("quote", str(path)), "finances: is required")


def test_negative_amount(run, tmp_path):
    path = case_file(tmp_path, lambda d: d["loan"].update(outstanding_principal="-42000"))
    assert_one_line_error(run("quote", str(path)), "loan.outstanding_principal", "negative")


def test_unknown_product(run, tmp_path):
    path = case_file(tmp_path, lambda d: d["loan"].update(product="payday_loan"))
    assert_one_line_error(run("quote", str(path)), "loan.product")


def test_missing_case_file(run, tmp_path):
    assert_one_line_error(run("quote", str(tmp_path / "none.json")), "none.json", "cannot read")


def test_bad_policy_file_for_quote(run, tmp_path):
    policy = tmp_path / "bad.toml"
    policy.write_text("apr_cap = [\n")
    assert_one_line_error(run("quote", str(CASE_FILE), "--policy", str(policy)), "bad.toml", "not valid TOML")


# ---------------------------------------------------------------- policy check


def test_policy_check_ok(run):
    result = run("policy", "check", str(DEFAULT_POLICY_PATH))
    assert result.exit_code == 0
    assert result.stdout.startswith(f"{DEFAULT_POLICY_PATH}: ok: Default policy; APR cap 0.24")
    assert "credit_card (max 60 months)" in result.stdout and "mortgage (max 480 months)" in result.stdout


def test_policy_check_unlawful_card_term(run, tmp_path):
    text = DEFAULT_POLICY_PATH.read_text()
    card = text.index("[products.credit_card]")
    text = text[:card] + text[card:].replace("max_term_months = 60", "max_term_months = 72", 1)
    path = tmp_path / "long.toml"
    path.write_text(text)
    result = run("policy", "check", str(path))
    assert_one_line_error(result, str(path), "products.credit_card.max_term_months", "60")


def test_policy_check_lists_every_problem(run, tmp_path):
    text = DEFAULT_POLICY_PATH.read_text()
    text = text.replace("apr_cap = 0.24", "apr_cap = -1").replace("grace_days = 3", "grace_days = 3\nsnooze = 1")
    path = tmp_path / "two.toml"
    path.write_text(text)
    result = run("policy", "check", str(path))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and "Traceback" not in result.output
    assert lines[0].startswith(f"Error: {path}: apr_cap:")
    assert lines[1] == f"{path}: reminders.snooze: Extra inputs are not permitted"


def test_policy_check_missing_file(run, tmp_path):
    assert_one_line_error(run("policy", "check", str(tmp_path / "nope.toml")), "nope.toml", "cannot read")


def test_case_file_that_is_not_utf8(run, tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'\xff\xfe{"as_of": "2026-11-28"}')
    assert_one_line_error(run("quote", str(path)), "latin1.json: not UTF-8 text")


def test_policy_file_that_is_not_utf8(run, tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes(b'name = "caf\xe9"\n')
    assert_one_line_error(run("policy", "check", str(path)), "latin1.toml: not UTF-8 text")


def test_case_that_is_not_an_object(run):
    assert_one_line_error(run("quote", "-", input="[1, 2]"), "must be a JSON object")
