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

import lender_data
from bot.cli import main
from bot.lender.reports import build_report, render
from bot.store import Store
from fixtures import NOW, SHANGHAI
from lender_data import book

#: Plans: 1 level active on track; 2 step_up active with an instalment past due (late);
#: 3 level active with a missed one; 4 settlement completed; 5 level active on track;
#: 6 level superseded (ended 11-05) by 7, interest_freeze, broken (ended 11-25).
EXPECTED = {
    "as_of": "2026-11-28",
    "since": None,
    "funnel": {
        "invited": 2,
        "started": 2,
        "identified": 4,
        "finances_given": 2,
        "options_shown": 2,
        "accepted": 6,
        "declined": 1,
        "no_affordable_plan": 1,
    },
    "structures": {"level": 4, "interest_freeze": 1, "settlement": 1, "step_up": 1},
    "average_term": "2.00",  # (2 + 2 + 3 + 1 + 1 + 3 + 2) / 7
    # each plan's own average payment, then their mean: the step-up plan 2 counts at (500 + 700) / 2,
    # not at its largest payment: (1000 + 600 + 800 + 3000 + 600 + 900 + 400) / 7
    "average_monthly": {"CNY": "1042.86"},
    "outcomes": {"on_track": 2, "late": 1, "missed": 1, "broken": 1, "completed": 1, "superseded": 1},
    "cure_rate": {"percent": "50.00", "numerator": 3, "denominator": 6},
    # due by today: 500 (plan 2) + 800 + 800 (plan 3) + 3000 (plan 4) + 900 + 900 (plan 6, before
    # it ended) + 400 (plan 7, before it broke) = 7300; received 3000 + 800 + 900 + 200 = 4900
    "collections": {"CNY": {"scheduled": "7300.00", "collected": "4900.00", "rate": "67.12"}},
    # by month, from the first due date (10-01) to next month: October 900 (plan 6) + 800 (plan 3);
    # November 3000 + 900 + 400 + 800 + 500, and every payment arrived in November; December (to
    # come) 1000 + 600 + 800 + 700 (plans 6 and 7 ended before their December instalments)
    "months": {
        "CNY": {
            "2026-10": {"scheduled": "1700.00", "collected": "0.00"},
            "2026-11": {"scheduled": "5600.00", "collected": "4900.00"},
            "2026-12": {"scheduled": "3100.00", "collected": "0.00"},
        }
    },
    # plan 3 has missed a payment, plan 2 has one past due; plans 1 and 5 show no sign of trouble
    "at_risk": {
        "count": 2,
        "plans": [
            {
                "plan_id": 3,
                "loan_id": "AL-3003",
                "borrower_id": 3,
                "missed": 1,
                "late": 0,
                "reported": "0",
                "currency": "CNY",
                "likelihood": None,
                "next_due": "2026-12-15",
            },
            {
                "plan_id": 2,
                "loan_id": "CL-2002",
                "borrower_id": 2,
                "missed": 0,
                "late": 1,
                "reported": "0",
                "currency": "CNY",
                "likelihood": None,
                "next_due": "2026-12-20",
            },
        ],
    },
    "unreachable": {"count": 1, "borrowers": [{"id": 5, "phone": "+86*******5000"}]},
}


def add_activity(store) -> None:
    """Audit events of the dialogue and the payments received."""
    events = [
        ("identified", 1),
        ("identified", 1),
        ("identified", 2),
        ("identified", 3),
        ("finances_given", 1),
        ("finances_given", 2),
        ("options_shown", 1),
        ("options_shown", 2),
        ("no_affordable_plan", 2),
    ]
    for event, borrower_id in events:
        store.audit(event, at=NOW, borrower_id=borrower_id)
    store.audit("identified", at=datetime(2026, 11, 1, tzinfo=UTC), borrower_id=4)
    store.audit("consent_declined", at=NOW, chat_id=950)
    for n, (loan_id, amount) in enumerate(
        (("CL-4004", "3000.00"), ("AL-3003", "800.00"), ("CL-8008", "900.00"), ("CL-2002", "200.00"))
    ):
        store.record_payment(
            loan_id=loan_id,
            plan_id=None,
            amount=Decimal(amount),
            unapplied=Decimal(0),
            paid_at=datetime(2026, 11, 10 + n, tzinfo=UTC),
            reference=f"P{n}",
            source="test",
        )


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
    assert values["average_monthly.CNY"] == "1042.86"
    assert values["months.CNY.2026-11.collected"] == "4900.00"
    assert values["at_risk.plans.3.missed"] == "1" and values["at_risk.plans.2.late"] == "1"
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
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3  # funnel, outcomes, months
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


def test_the_html_names_structures_in_words_and_says_what_the_figures_are(store):
    page = report(store, "html")
    assert "Lower now, higher after your income recovers" in page and "Interest frozen, with a down payment" in page
    assert ">step_up<" not in page and ">interest_freeze<" not in page
    assert "mean of each plan&#39;s average payment, down payments left out" in page
    assert "an early payment counts in the month it arrived" in page
    text = report(store, "text")
    assert "average monthly       1042.86 CNY (mean of each plan's average payment, down payments left out)" in text
    assert "      2026-12         3100.00           0.00  (to come)" in text


def _plan(
    store,
    loan_id: str,
    borrower_id: int,
    dues: list[tuple[date, str, str]],
    likelihood: str | None,
    accepted: datetime = NOW,
) -> int:
    terms = {"option_id": "o", "structure": "level", "currency": "CNY", "total_repayable": "0", "apr": "0.1"}
    if likelihood is not None:
        terms["completion_likelihood"] = likelihood
    return store.save_plan(
        loan_id=loan_id,
        borrower_id=borrower_id,
        option=terms,
        consent_text="ok",
        consent_user_id=None,
        consent_update_id=None,
        accepted_at=accepted,
        installments=[lender_data.instalment(n, due, amount, kind) for n, (due, amount, kind) in enumerate(dues, 1)],
    )


def test_a_fresh_plan_paid_early_shows_each_amount_in_its_own_month():
    """Accepted today, first payment due next month, paid today: November collected it,
    December is when it was due; nothing was due yet, so no rate."""
    with Store(":memory:", clock=lambda: NOW) as s:
        s.upsert_borrower_and_loan(lender_data.loan("CC-1", "+8613800138000", "en"))
        _plan(
            s,
            "CC-1",
            1,
            [(date(2026, 12, 28), "2246.43", "instalment"), (date(2027, 1, 28), "2246.43", "instalment")],
            "0.72",
        )
        s.record_payment(
            loan_id="CC-1",
            plan_id=1,
            amount=Decimal("2246.43"),
            unapplied=Decimal(0),
            paid_at=NOW,
            reference="EARLY",
            source="test",
        )
        figures = build_report(s, tz=SHANGHAI)
    assert figures.months == {
        "CNY": {
            "2026-11": {"scheduled": Decimal("0.00"), "collected": Decimal("2246.43")},
            "2026-12": {"scheduled": Decimal("2246.43"), "collected": Decimal("0.00")},
        }
    }
    assert figures.collections == {"CNY": {"scheduled": Decimal("0.00"), "collected": Decimal("2246.43"), "rate": None}}


def test_at_risk_ranks_misses_then_late_then_unconfirmed_reports_then_likelihood():
    with Store(":memory:", clock=lambda: NOW) as s:
        for n in range(1, 7):
            s.upsert_borrower_and_loan(lender_data.loan(f"L-{n}", f"+861380013800{n}", "en"))
        soon, past = date(2026, 12, 10), date(2026, 11, 20)
        steady = _plan(s, "L-1", 1, [(soon, "100", "instalment")], "0.80")
        shaky = _plan(s, "L-2", 2, [(soon, "100", "instalment")], "0.35")
        said_paid = _plan(s, "L-3", 3, [(soon, "100", "instalment")], "0.90")
        late = _plan(s, "L-4", 4, [(past, "100", "instalment"), (soon, "100", "instalment")], "0.95")
        missed = _plan(s, "L-5", 5, [(past, "100", "instalment")], None)
        old = _plan(s, "L-6", 6, [(soon, "100", "instalment")], None)  # agreed before likelihoods were kept
        s.db.execute("UPDATE installments SET status = 'missed' WHERE plan_id = ?", (missed,))
        s.report_payment(said_paid, Decimal("100"), date(2026, 11, 27), NOW)
        figures = build_report(s, tz=SHANGHAI)
    assert [p["plan_id"] for p in figures.at_risk] == [missed, late, said_paid, shaky, steady]
    assert old not in [p["plan_id"] for p in figures.at_risk]
    assert figures.at_risk[2]["reported"] == Decimal("100")
    assert "    L-2" not in report_text(figures) and "35.00%" in report_text(figures)


def report_text(figures) -> str:
    return render(figures, "text")
