"""The borrower's plan chart and files (issue 14 section 4): readable in both languages with
every glyph drawn (matplotlib's "Glyph ... missing" warning is an error here), months on the
axis, statuses in distinct colours with a legend, amounts as the messages write them, the next
payment marked; and the terminal's /schedule never overwrites an earlier file."""

from __future__ import annotations

import io
import warnings
from datetime import date
from decimal import Decimal

import pytest

from bot.console import Console
from bot.demo import load_demo
from bot.i18n import Translator, make_filters
from bot.lender.plan_files import STATUS_COLOURS, due_day, plan_chart, save_file, still_to_pay
from bot.store import Store
from bot.turn import Conversations
from dialogs.views import paused_dates, stored_pause_view
from plans.policy import default_policy

PLAN = {"id": 7, "loan_id": "CC-1001", "currency": "CNY"}
#: paid, paid (interest only), partly paid, missed, paused (interest only, to pay), then due
STATES = [
    ("paid", "interest_only", "300.00"),
    ("paid", "instalment", "1200.50"),
    ("partly_paid", "instalment", "400"),
    ("missed", "instalment", "0"),
    ("due", "interest_only", "0"),
] + [("due", "instalment", "0")] * 7


def rows() -> list[dict]:
    return [
        {
            "number": n,
            "due_date": date(2026 + (n + 10) // 12, (n + 10) % 12 + 1, 5),
            "amount": Decimal("300.00") if kind == "interest_only" else Decimal("1200.50"),
            "paid": Decimal(paid),
            "status": status,
            "kind": kind,
        }
        for n, (status, kind, paid) in enumerate(STATES, start=1)
    ]


def texts(figure) -> list[str]:
    return [t.get_text() for t in figure.findobj(lambda artist: hasattr(artist, "get_text")) if t.get_text()]


@pytest.fixture
def strict_glyphs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph 36824 (\\N{...}) missing from font(s) DejaVu Sans." fails the test
        yield


@pytest.mark.parametrize(
    ("locale", "words", "month", "next_"),
    [
        (
            "zh_CN",
            ["CC-1001 还款计划表", "已还", "待还", "逾期未还", "暂缓期：只还利息", "每期还款后剩余应还", "应还月份"],
            "2026年12月",
            "下一期：2027年2月5日应还 ¥800.50",
        ),
        (
            "en",
            [
                "Your repayment plan for CC-1001",
                "Paid",
                "To pay",
                "Missed",
                "Paused: interest only",
                "Still to pay after each payment",
                "Month the payment is due",
            ],
            "Dec 2026",
            "Next: CN¥800.50 on Feb 5, 2027",
        ),
    ],
)
def test_the_chart_speaks_the_borrowers_language_with_every_glyph_drawn(strict_glyphs, locale, words, month, next_):
    figure = plan_chart(PLAN, rows(), Translator(), locale)
    png = io.BytesIO()
    figure.savefig(png, format="png")  # drawing: where a missing glyph would warn
    assert png.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    shown = texts(figure)
    assert set(words) <= set(shown)
    assert month in shown and next_ in shown
    money = make_filters(locale)["money"]
    ticks = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert money(Decimal("400"), "CNY") in ticks or money(Decimal("200"), "CNY") in ticks  # as in the messages


def test_each_status_has_its_own_colour_on_the_picture():
    figure = plan_chart(PLAN, rows(), Translator(), "en")
    png = io.BytesIO()
    figure.savefig(png, format="png")
    import matplotlib.image

    pixels = matplotlib.image.imread(io.BytesIO(png.getvalue()), format="png")
    colours = {tuple(round(float(c) * 255) for c in pixel[:3]) for row in pixels[::2] for pixel in row[::2]}
    assert len(set(STATUS_COLOURS.values())) == 4
    for hex_colour in STATUS_COLOURS.values():
        rgb = tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, hex_colour


def test_still_to_pay_counts_what_was_paid_then_what_is_planned():
    plan = rows()
    after = still_to_pay(plan, upcoming=2)  # the partly paid one is next
    total = sum(r["amount"] for r in plan)
    assert after[0] == total - Decimal("300.00") and after[1] == after[0] - Decimal("1200.50")
    assert after[2] == after[1] - Decimal("1200.50")  # from the next one on: as planned
    assert after[-1] == 0


def test_saving_never_replaces_an_earlier_file(tmp_path):
    first = save_file(tmp_path, "plan-1.png", b"one")
    second = save_file(tmp_path, "plan-1.png", b"two")
    assert (first.name, second.name) == ("plan-1.png", "plan-1-2.png")
    assert first.read_bytes() == b"one" and second.read_bytes() == b"two"


def test_schedule_in_the_terminal_says_where_it_saved_each_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = Store(tmp_path / "demo.db")
    load_demo(store)
    conversations = Conversations(store, default_policy(), Translator(), store.clock, "en")
    answers = iter(
        [
            "1",
            "CC-1001",
            "1234",
            "1",
            "1",
            "1",
            "4",
            "12000",
            "9000",
            "1",
            "1",
            "1",
            "5200",
            "800",
            "3000",
            "1",
            "8",
            "1",
            "1",
            "1",
            "/schedule",
            "/schedule",
        ]
    )
    lines: list[str] = []

    def read(prompt: str) -> str:
        try:
            return next(answers)
        except StopIteration:
            raise EOFError from None

    Console(conversations, read=read, write=lines.append, language_code="en").run()
    saved = [line.strip() for line in lines if "saved to" in line]
    assert saved == [
        f"Chart saved to {tmp_path / 'plan-1.png'}",
        f"Calendar saved to {tmp_path / 'plan-1.ics'} (open it to add the due dates to your calendar)",
        f"Chart saved to {tmp_path / 'plan-1-2.png'}",
        f"Calendar saved to {tmp_path / 'plan-1-2.ics'} (open it to add the due dates to your calendar)",
    ]
    store.close()


@pytest.mark.parametrize("locale, legend", [("en", "Paused: nothing to pay"), ("zh_CN", "暂停还款：无需还款")])
def test_a_pause_has_its_months_on_the_chart_and_no_bar(strict_glyphs, locale, legend):
    """Two months with nothing to pay between the first payment and the rest: they keep their
    place on the month axis, shaded, with a legend; no bar (nothing is due)."""
    due = [
        {
            "number": n,
            "due_date": date(2027, month, 5),
            "amount": Decimal("800.00"),
            "paid": Decimal(0),
            "status": "due",
            "kind": "instalment",
        }
        for n, month in enumerate((1, 4, 5, 6), start=1)
    ]
    pauses = [
        {
            "first_date": date(2027, 2, 5),
            "last_date": date(2027, 3, 5),
            "months": 2,
            "interest": "frozen",
            "capitalised": Decimal("0.00"),
        }
    ]
    figure = plan_chart(PLAN, due, Translator(), locale, pauses)
    figure.savefig(io.BytesIO(), format="png")
    assert legend in texts(figure)
    axes = figure.axes[0]
    assert len(axes.get_xticklabels()) == 6  # four payments and two paused months
    bars = [bar for container in axes.containers for bar in container if bar.get_height() > 0]
    assert sorted(round(bar.get_x() + bar.get_width() / 2) for bar in bars) == [0, 3, 4, 5]


def stored_pause(first: date, last: date, months: int) -> dict:
    return {"first_date": first, "last_date": last, "months": months, "interest": "frozen", "capitalised": Decimal(0)}


def test_a_pause_on_a_plan_due_on_the_31st_covers_the_31st_where_the_month_has_one():
    """Paused April to June on day 31: both ends are clamped to the 30th, the middle is 31 May.
    A down payment has a date of its own, which says nothing of the due day."""
    pause = stored_pause_view(stored_pause(date(2027, 4, 30), date(2027, 6, 30), 3))
    down_payment = {"due_date": date(2027, 3, 9), "kind": "down_payment"}
    after = {"due_date": date(2027, 7, 31), "kind": "instalment"}
    assert due_day([down_payment, after], [pause]) == 31
    assert paused_dates(pause, 31) == [date(2027, 4, 30), date(2027, 5, 31), date(2027, 6, 30)]

    early = stored_pause_view(stored_pause(date(2027, 4, 5), date(2027, 6, 5), 3))
    late_down_payment = {"due_date": date(2027, 3, 28), "kind": "down_payment"}
    assert due_day([late_down_payment, {"due_date": date(2027, 7, 5), "kind": "instalment"}], [early]) == 5
