"""Small promises of the lender's commands (issue 14 section 3, issue 12 section 4): the demo
says where its database is, `conversations` shows the loan of a borrower back at the start,
and nothing a borrower typed reaches the terminal as an escape sequence."""

from __future__ import annotations

from datetime import UTC, datetime

from click.testing import CliRunner

from bot.cli import main
from bot.store import Store
from lender_data import book, conversation


def cli(*args: str, input: str = ""):
    return CliRunner().invoke(main, list(args), input=input)


def test_the_demo_says_where_its_database_is_and_can_keep_it_where_asked(cli_env, tmp_path):
    result = cli("chat", "--demo", "--lang", "en")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.startswith("The demo's database is")]
    assert len(lines) == 2  # when the chat starts, and again when it ends
    line = lines[0]
    path = line.split(" is ", 1)[1].split(";")[0]
    with Store(path) as store:
        assert store.get_loan("CC-1001") is not None
    chosen = tmp_path / "mine.db"
    assert cli("chat", "--demo", "--database", str(chosen), "--lang", "zh_CN").exit_code == 0
    with Store(chosen) as store:
        assert store.get_loan("CL-2002") is not None
    result = CliRunner().invoke(main, ["report"], env={"BOT_DATABASE": str(chosen)})
    assert result.exit_code == 0 and "Report as of" in result.output


def test_conversations_show_the_plans_loan_for_a_borrower_back_at_the_start(cli_env):
    with book(cli_env) as store:
        conversation(store, 901, locale="zh_CN", borrower_id=1, loan_id=None)  # /start again after agreeing
    rows = {line.split()[0]: line for line in cli("conversations").output.splitlines()[1:]}
    assert "CC-1001" in rows["901"] and "AL-3003" in rows["903"]


def test_nothing_a_borrower_typed_reaches_the_terminal_as_an_escape_sequence(cli_env):
    with book(cli_env) as store:
        store.db.execute("UPDATE borrowers SET name = 'Eve\x1b]0;owned\x07' WHERE id = 3")
        store.log_message(
            direction="in",
            chat_id=903,
            text="hi \x1b[2J\x1b[31mred\u202e",
            at=datetime.now(UTC),
            borrower_id=3,
            update_id=77,
        )
    for args in (
        ["transcript", "--chat", "903"],
        ["transcript", "--chat", "903", "--format", "json"],
        ["conversations"],
        ["transcript", "--borrower", "3", "--format", "html"],
    ):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        assert "\x1b" not in result.output and "\x07" not in result.output and "\u202e" not in result.output
    assert "hi \\u001b[2J\\u001b[31mred\\u202e" in cli("transcript", "--chat", "903").output


def test_invite_reads_a_loan_number_as_the_import_stored_it(cli_env):
    from bot.demo import load_demo

    with Store(cli_env) as store:
        load_demo(store)
    result = cli("invite", " cc-1001 ")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("invitation for loan CC-1001, single use")
    refused = cli("invite", "CC<b>1")
    assert refused.exit_code == 1 and "'CC<b>1' is not a loan number" in refused.output
