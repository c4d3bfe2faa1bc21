"""`reminders send` from cron, safely (issue 14 section 2): a future moment is refused, a dry
run sends and changes nothing yet says what would happen, a reminder that would no longer be
true is skipped (and recorded so) or says what is true on the day it goes out, and the
command fails in one line without the network."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from bot.cli import main
from bot.i18n import Translator
from bot.lender.reminders import Dispatcher, dry_run, too_late
from bot.store import Store
from bot.turn import Conversations
from fixtures import NOW, SHANGHAI
from lender_data import book
from plans.policy import default_policy

TEN_AM = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai on the book's today


def add_reminders(store: Store) -> None:
    """Plan 1 (borrower 1, chat 901): payment 1 due 12-01, its "3 days before" due now.
    Plan 2 (borrower 2): payment 1 was due 11-20 and is unpaid: past the grace days today."""
    store.add_reminder(plan_id=1, number=1, borrower_id=1, kind="before:3", send_at=TEN_AM)
    store.add_reminder(
        plan_id=2, number=1, borrower_id=2, kind="after:1", send_at=datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
    )


def dump(path) -> list[str]:
    with Store(path) as s:
        return list(s.db.conn.iterdump())


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=True)


def test_a_future_moment_is_refused_in_one_line(cli_env, monkeypatch):
    monkeypatch.setenv("BOT_TIMEZONE", "Asia/Shanghai")
    with book(cli_env) as s:
        add_reminders(s)
    before = dump(cli_env)
    two_years = (datetime.now(SHANGHAI) + timedelta(days=730)).strftime("%Y-%m-%d %H:%M:%S")
    for extra in ([], ["--dry-run"]):
        result = cli("reminders", "send", "--as-of", two_years, *extra)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
        assert result.output.splitlines() == [
            f"Error: --as-of {two_years[:16]} is in the future (Asia/Shanghai); a pass only catches up on"
            " what is already due"
        ]
    assert dump(cli_env) == before
    soon = (datetime.now(SHANGHAI) + timedelta(minutes=3)).strftime("%Y-%m-%d %H:%M:%S")
    assert cli("reminders", "send", "--as-of", soon, "--dry-run").exit_code == 0  # clocks differ a little


def test_a_dry_run_says_what_would_be_sent_and_changed_and_changes_nothing(cli_env, monkeypatch):
    monkeypatch.setenv("BOT_TIMEZONE", "Asia/Shanghai")
    with book(cli_env) as s:
        add_reminders(s)
    before = dump(cli_env)
    result = cli("reminders", "send", "--dry-run", "--as-of", "2026-11-28 10:00:00")  # no token, no network
    assert result.exit_code == 0, result.output
    assert dump(cli_env) == before
    text = result.output
    assert "dry run of a pass at 2026-11-28 10:00 (Asia/Shanghai): nothing was sent or changed" in text
    assert "reminder 1 (plan 1, payment 1, before:3): would send to chat 901:" in text
    assert "is due in 3 days" in text or "3 天后" in text
    # plan 2's payment 1 is past its grace days: it would be missed, so its "not arrived yet" is too late
    assert "reminder 2 (plan 2, payment 1, after:1): would be skipped: too late" in text
    assert "instalment_missed: number 1" in text


async def test_a_dry_run_of_a_pass_that_breaks_a_plan_leaves_it_active(tmp_path, make_app, fake_api):
    """Plan 3 already has a missed payment; a pass on 12-19 would miss its third one (due
    12-15), break the plan and tell the borrower: the dry run reports all of it, does none."""
    store = book(tmp_path / "bot.db")
    dispatcher = Dispatcher(
        Conversations(store, default_policy(), Translator(), lambda: NOW, "en"), default_policy(), SHANGHAI, lambda: NOW
    )
    result = await dry_run(dispatcher, datetime(2026, 12, 19, 3, 0, tzinfo=UTC))
    assert [e["event"] for e in result.events if e["details"].get("plan_id") == 3] == [
        "instalment_missed",
        "plan_broken",
    ]
    assert any(row["kind"] == "broken" and row["status"] == "sent" for row, _ in result.reminders)
    assert store.plan(3)["status"] == "active" and store.reminders_for_plan(3) == []
    app = await make_app()
    assert await dispatcher.run_once(app.bot, datetime(2026, 12, 19, 3, 0, tzinfo=UTC))  # the real pass does it
    assert store.plan(3)["status"] == "broken"
    store.close()


async def test_a_reminder_past_its_moment_is_skipped_and_a_late_one_says_what_is_true(tmp_path, make_app, fake_api):
    store = book(tmp_path / "bot.db")
    store.add_reminder(plan_id=1, number=1, borrower_id=1, kind="before:3", send_at=TEN_AM)
    store.add_reminder(
        plan_id=1, number=1, borrower_id=1, kind="before:0", send_at=datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    )
    app = await make_app()
    dispatcher = Dispatcher(
        Conversations(store, default_policy(), Translator(), lambda: NOW, "en"), default_policy(), SHANGHAI, lambda: NOW
    )
    # the bot was down: the catch-up pass runs on 11-30, one day before the due date
    await dispatcher.run_once(app.bot, datetime(2026, 11, 30, 3, 0, tzinfo=UTC))
    [sent] = fake_api.sent_messages(901)
    assert "1 天后" in sent["text"] or "in 1 day," in sent["text"]  # not "in 3 days" (nor "1 days")
    # and on 12-02 the "today is the due date" of 12-01 is a day late: skipped, recorded, not sent
    outcome = await dispatcher.run_once(app.bot, datetime(2026, 12, 2, 3, 0, tzinfo=UTC))
    assert outcome == {"skipped": 1}
    [due_today] = [r for r in store.reminders_for_plan(1) if r["kind"] == "before:0"]
    assert (due_today["status"], due_today["last_error"]) == ("skipped", "too late: the due date 2026-12-01 has passed")
    assert len(fake_api.sent_messages(901)) == 1
    store.close()


@given(
    due=st.dates(date(2026, 1, 1), date(2028, 12, 31)),
    offset=st.integers(-40, 40),
    kind=st.sampled_from(
        ["before:0", "before:1", "before:3", "before:7", "after:1", "after:2", "checkin", "thanks:5", "broken"]
    ),
)
def test_no_reminder_goes_out_when_it_would_be_false(due, offset, kind):
    """The rule: a "today is the due date" only on the due date, a "due in N days" only before
    it (and then N = the days really left), a "has not arrived" only within the grace days."""
    today = due + timedelta(days=offset)
    grace = default_policy().reminders.grace_days
    sendable = too_late(kind, due, today, grace) is None
    if kind == "before:0":
        assert sendable == (today == due)
    elif kind.startswith("before:"):
        assert sendable == (today < due)
    elif kind.startswith("after:"):
        assert sendable == (today <= due + timedelta(days=grace))
    else:
        assert sendable


def test_without_the_network_reminders_send_fails_in_one_line(cli_env, monkeypatch):
    monkeypatch.setenv("BOT_TOKEN", "123456:TEST")
    monkeypatch.setenv("BOT_API_URL", "http://127.0.0.1:9/bot")  # nothing listens on the discard port
    with book(cli_env) as s:
        add_reminders(s)
    result = cli("reminders", "send")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    [line] = result.output.splitlines()
    assert line.startswith("Error: cannot reach Telegram at http://127.0.0.1:9/bot")
