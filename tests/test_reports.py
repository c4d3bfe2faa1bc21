"""The lender's report on the known book of `lender_data` (today 2026-11-28, Shanghai):
every figure checked, in each format."""
from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.lender.reports import build_report, render
from lender_data import NOW, SHANGHAI, book

#: Plans: 1 level active on track; 2 step_up active with an instalment past due (late);
#: 3 level active with a missed one; 4 settlement completed; 5 level active on track;
#: 6 level superseded (ended 11-05) by 7, interest_freeze, broken (ended 11-25).
EXPECTED = {
    "as_of": "2026-11-28",
    "since": None,
    "funnel": {"invited": 2, "started": 2, "identified": 4, "finances_given": 2, "options_shown": 2,
               "accepted": 6, "declined": 1, "no_affordable_plan": 1},
    "structures": {"level": 4, "interest_freeze": 1, "settlement": 1, "step_up": 1},
    "average_term": "2.00",  # (2 + 2 + 3 + 1 + 1 + 3 + 2) / 7
    "average_monthly": {"CNY": "1057.14"},  # (1000 + 700 + 800 + 3000 + 600 + 900 + 400) / 7
    "outcomes": {"on_track": 2, "late": 1, "missed": 1, "broken": 1, "completed": 1, "superseded": 1},
    "cure_rate": {"percent": "50.00", "numerator": 3, "denominator": 6},
    # due by today: 500 (plan 2) + 800 + 800 (plan 3) + 3000 (plan 4) + 900 + 900 (plan 6, before
    # it ended) + 400 (plan 7, before it broke) = 7300; received 3000 + 800 + 900 + 200 = 4900
    "collections": {"CNY": {"scheduled": "7300.00", "collected": "4900.00", "rate": "67.12"}},
    "unreachable": {"count": 1, "borrowers": [{"id": 5, "phone": "+86*******5000"}]},
}


def add_activity(store) -> None:
    """Audit events of the dialogue and the payments received."""
    events = [("identified", 1), ("identified", 1), ("identified", 2), ("identified", 3),
              ("finances_given", 1), ("finances_given", 2), ("options_shown", 1), ("options_shown", 2),
              ("no_affordable_plan", 2)]
    for event, borrower_id in events:
        store.audit(event, at=NOW, borrower_id=borrower_id)
    store.audit("identified", at=datetime(2026, 11, 1, tzinfo=UTC), borrower_id=4)
    store.audit("consent_declined", at=NOW, chat_id=950)
    for n, (loan_id, amount) in enumerate((("CL-4004", "3000.00"), ("AL-3003", "800.00"), ("CL-8008", "900.00"),
                                           ("CL-2002", "200.00"))):
        store.record_payment(loan_id=loan_id, plan_id=None, amount=Decimal(amount), unapplied=Decimal(0),
                             paid_at=datetime(2026, 11, 10 + n, tzinfo=UTC), reference=f"P{n}", source="test")


@pytest.fixture
def store():
    with book() as s:
        add_activity(s)
        yield s


def report(store, fmt: str, since: date | None = None) -> str:
    return render(build_report(store, tz=SHANGHAI, since=since), fmt)


def test_json_has_every_figure(store):
    assert json.loads(report(store, "json")) == EXPECTED


def test_since_counts_only_what_happened_from_that_day(store):
    figures = json.loads(report(store, "json", since=date(2026, 11, 12)))
    assert figures["since"] == "2026-11-12"
    assert figures["funnel"]["identified"] == 3  # borrower 4 was identified on 11-01
    assert figures["funnel"]["accepted"] == 6
    # due from 11-12: plan 2's 500 on 11-20 and plan 3's 800 on 11-15 (paid, but it was due);
    # received from 11-12 00:00 in Shanghai (11-11 16:00 UTC): 900 and 200
    assert figures["collections"] == {"CNY": {"scheduled": "1300.00", "collected": "1100.00", "rate": "84.62"}}
    later = json.loads(report(store, "json", since=date(2026, 11, 29)))
    assert later["funnel"] == dict.fromkeys(EXPECTED["funnel"], 0)
    assert later["outcomes"] == dict.fromkeys(EXPECTED["outcomes"], 0)
    assert later["cure_rate"] == {"percent": None, "numerator": 0, "denominator": 0}
    assert later["average_term"] is None and later["collections"] == {}


def test_csv_rows_are_metric_value(store):
    rows = list(csv.reader(io.StringIO(report(store, "csv"))))
    assert rows[0] == ["metric", "value"]
    values = dict(rows[1:])
    assert len(values) == len(rows) - 1
    assert values["funnel.accepted"] == "6"
    assert values["cure_rate.percent"] == "50.00"
    assert values["collections.CNY.rate"] == "67.12"
    assert values["average_monthly.CNY"] == "1057.14"
    assert values["unreachable.borrowers.5"] == "+86*******5000"


def test_text_is_a_readable_table(store):
    text = report(store, "text")
    assert "Report as of 2026-11-28" in text
    assert "  no affordable plan          1" in text
    assert "  cure rate              50.00% (3 of 6 plans not superseded)" in text
    assert "CNY: scheduled 7300.00, collected 4900.00, rate 67.12%" in text
    assert "+86*******5000" in text and "+8613500135000" not in text


def test_html_is_self_contained_with_svg_charts_and_escaped(store):
    store.db.execute("UPDATE plans SET structure = '<script>alert(1)</script>' WHERE id = 7")
    page = report(store, "html")
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 2
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no external assets
    assert ">no affordable plan</text>" in page
    # the funnel's longest bar is "accepted" (6): full width; "declined" (1): a sixth of it
    assert 'width="360" height="20"' in page and 'width="60" height="20"' in page


def test_report_command(cli_env):
    with book(cli_env) as s:
        add_activity(s)
    result = CliRunner().invoke(main, ["report", "--format", "json", "--since", "2026-11-01"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["funnel"]["accepted"] == 6
    assert CliRunner().invoke(main, ["report", "--since", "yesterday"]).exit_code == 2
