"""Every command of `restructure-bot`, given bad input or a bad environment, fails with one
line that says what is wrong and a non-zero exit: never a traceback (issue 14 section 2).
Each case names the command line, the environment it runs in, and words the line must hold."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.demo import load_demo
from bot.store import Store
from plans.policy import DEFAULT_POLICY_PATH

CLOSED_PORT_URL = "http://127.0.0.1:9/bot"  # the discard port: nothing listens on it


def policy_with(tmp_path: Path, old: str, new: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(old, new, 1), encoding="utf-8")
    return str(path)


def write(tmp_path: Path, name: str, text: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return str(path)


# (id, command line, extra environment, words the error line holds). `{tmp}` is the test's
# folder; "DEMO" in the environment means BOT_DATABASE holds the demo loans.
CASES = [
    (
        "chat: database in a missing folder",
        ["chat", "--database", "{tmp}/no/such/demo.db", "--demo"],
        {},
        ["no/such: no such folder"],
    ),
    ("chat: BOT_DATABASE is a folder", ["chat"], {"BOT_DATABASE": "{tmp}"}, ["BOT_DATABASE", "unable to open"]),
    ("run: no token", ["run"], {}, ["BOT_TOKEN"]),
    ("reminders send: no token", ["reminders", "send"], {"DEMO": "1"}, ["BOT_TOKEN"]),
    (
        "reminders send: no network",
        ["reminders", "send"],
        {"DEMO": "1", "BOT_TOKEN": "1:T", "BOT_API_URL": CLOSED_PORT_URL},
        ["cannot reach Telegram"],
    ),
    (
        "reminders send: far future",
        ["reminders", "send", "--as-of", "2099-01-01 10:00:00"],
        {"DEMO": "1"},
        ["--as-of 2099-01-01 10:00 is in the future"],
    ),
    ("quote: missing file", ["quote", "{tmp}/none.json"], {}, ["none.json: cannot read"]),
    ("quote: not JSON", ["quote", "{tmp}/bad.json"], {}, ["not valid JSON"]),
    ("quote: a folder", ["quote", "{tmp}"], {}, ["cannot read"]),
    ("policy check: missing", ["policy", "check", "{tmp}/none.toml"], {}, ["none.toml: cannot read"]),
    (
        "policy check: rate as a percentage",
        ["policy", "check", "POLICY:apr_cap = 0.24|apr_cap = 2.4"],
        {},
        ["apr_cap: 2.4 would allow an APR of 240.0%"],
    ),
    (
        "policy check: floor above the cap",
        ["policy", "check", "POLICY:floor_rate = 0.06|floor_rate = 0.5"],
        {},
        ["products.credit_card.floor_rate: 0.5 is above apr_cap 0.24"],
    ),
    (
        "policy check: unknown jurisdiction",
        ["policy", "check", 'POLICY:jurisdiction = "CN"|jurisdiction = "XX"'],
        {},
        ["jurisdiction: 'XX' is not a country code"],
    ),
    ("loans import: missing file", ["loans", "import", "{tmp}/none.csv"], {}, ["none.csv: cannot read"]),
    ("loans import: a folder", ["loans", "import", "{tmp}/folder.csv"], {}, ["folder.csv' is a directory"]),
    ("loans import: a spreadsheet", ["loans", "import", "{tmp}/loans.xlsx"], {}, ["expected a .csv or .jsonl file"]),
    (
        "loans import: BOT_DATABASE not a database",
        ["loans", "import", "{tmp}/loans.csv"],
        {"BOT_DATABASE": "{tmp}/notes.txt"},
        ["BOT_DATABASE", "not a database"],
    ),
    ("invite: unknown loan", ["invite", "NOPE-1"], {"DEMO": "1"}, ["no loan 'NOPE-1'"]),
    (
        "invite: no network",
        ["invite", "CC-1001"],
        {"DEMO": "1", "BOT_TOKEN": "1:T", "BOT_API_URL": CLOSED_PORT_URL},
        ["cannot ask Telegram"],
    ),
    (
        "plans list: database in a missing folder",
        ["plans", "list"],
        {"BOT_DATABASE": "{tmp}/no/such/bot.db"},
        ["BOT_DATABASE", "unable to open"],
    ),
    ("payments import: missing file", ["payments", "import", "{tmp}/none.csv"], {"DEMO": "1"}, ["cannot read"]),
    ("payments import: not UTF-8", ["payments", "import", "{tmp}/gbk.csv"], {"DEMO": "1"}, ["not UTF-8"]),
    (
        "broadcast: unknown segment",
        ["broadcast", "--segment", "nobody", "--template", "new_plans_available"],
        {"DEMO": "1"},
        ["unknown segment 'nobody'"],
    ),
    (
        "broadcast: missing message file",
        ["broadcast", "--segment", "all", "--message-file", "{tmp}/none.txt"],
        {"DEMO": "1"},
        ["none.txt: cannot read"],
    ),
    (
        "broadcast: nobody reachable",
        ["broadcast", "--segment", "all", "--template", "new_plans_available"],
        {"DEMO": "1", "BOT_TOKEN": "1:T"},
        ["segment all has no reachable recipients"],
    ),
    ("broadcast resume: unknown", ["broadcast", "resume", "99"], {"DEMO": "1"}, ["no broadcast 99"]),
    ("broadcast show: unknown", ["broadcast", "show", "99"], {"DEMO": "1"}, ["no broadcast 99"]),
    ("report: BOT_DATABASE not a database", ["report"], {"BOT_DATABASE": "{tmp}/notes.txt"}, ["not a database"]),
    ("transcript: nothing found", ["transcript", "--chat", "12345"], {"DEMO": "1"}, ["no messages found"]),
    ("transcript: no selection", ["transcript"], {"DEMO": "1"}, ["choose exactly one"]),
    (
        "conversations: unknown state",
        ["conversations", "--state", "sleeping"],
        {"DEMO": "1"},
        ["unknown --state 'sleeping'", "options", "done"],
    ),
    ("support-user disable: unknown", ["support-user", "disable", "nobody"], {"DEMO": "1"}, ["nobody"]),
    (
        "support: database in a missing folder",
        ["support"],
        {"BOT_DATABASE": "{tmp}/no/such/bot.db"},
        ["unable to open"],
    ),
    ("forget: unknown borrower", ["forget", "999", "--yes"], {"DEMO": "1"}, ["no borrower 999"]),
    ("backup: missing folder", ["backup", "{tmp}/no/such/copy.db"], {"DEMO": "1"}, ["no/such: no such folder"]),
    ("backup: file exists", ["backup", "{tmp}/notes.txt"], {"DEMO": "1"}, ["already exists"]),
    ("BOT_TIMEZONE invalid", ["report"], {"BOT_TIMEZONE": "Mars/Base"}, ["BOT_TIMEZONE"]),
]


@pytest.mark.parametrize(("args", "env", "words"), [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_failure_is_one_line_and_a_non_zero_exit(cli_env, tmp_path, monkeypatch, args, env, words):
    (tmp_path / "folder.csv").mkdir()
    write(tmp_path, "bad.json", "{not json")
    write(tmp_path, "loans.xlsx", b"PK\x03\x04")
    write(tmp_path, "loans.csv", "loan_id\n")
    write(tmp_path, "notes.txt", "these are not a database" * 100)
    write(tmp_path, "gbk.csv", b"loan_id,amount,paid_at,reference\n" + "王".encode("gbk") + b",1,2026-11-01,R\n")
    if env.pop("DEMO", None):
        with Store(cli_env) as store:
            load_demo(store)
    for name, value in env.items():
        monkeypatch.setenv(name, value.replace("{tmp}", str(tmp_path)))
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    args = [
        policy_with(tmp_path, *arg[len("POLICY:") :].split("|")) if arg.startswith("POLICY:") else arg for arg in args
    ]
    result = CliRunner().invoke(main, args, input="")
    assert result.exit_code != 0, result.output
    assert isinstance(result.exception, SystemExit), f"not handled: {result.exception!r}"
    assert "Traceback" not in result.output
    error = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error) == 1, result.output
    for word in words:
        assert word in error[0], result.output


def test_every_command_has_a_failure_case():
    import click

    context = click.Context(main)
    tried = {case[1][0] for case in CASES}
    assert set(main.list_commands(context)) <= tried


def test_a_policy_check_reports_every_mistake_of_a_file(tmp_path):
    text = DEFAULT_POLICY_PATH.read_text(encoding="utf-8")
    text = text.replace("apr_cap = 0.24", "apr_cap = 0.05").replace('jurisdiction = "CN"', 'jurisdiction = "cn"')
    path = write(tmp_path, "policy.toml", text)
    result = CliRunner().invoke(main, ["policy", "check", path])
    assert result.exit_code == 1
    assert [line.removeprefix("Error: ").split(": ")[1] for line in result.output.splitlines()] == [
        "products.credit_card.floor_rate",
        "products.consumer_loan.floor_rate",
        "jurisdiction",
    ]
