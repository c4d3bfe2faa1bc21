"""Files a borrower can keep: a PNG chart of the plan and an .ics calendar with every due date
(so their phone reminds them too). Made from the stored plan, on request; `save_file` puts
one in a folder without ever replacing an earlier one (the terminal's /schedule).

The chart reads at a glance in the borrower's language: one bar per payment over the months
they fall due (month names by Babel), coloured by what happened to it (paid, still to pay,
missed, paused: interest only during a payment holiday; a partly paid one is split), the
months of a pause (nothing to pay) shaded in their place, a line
for what is still to pay after each payment, the next payment marked, amounts written as the
messages write them. Chinese is drawn with Noto Sans CJK SC, shipped by the pinned
`noto-cjk-sans-otc` package, so no server font is needed and no glyph is missing.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from babel.dates import format_skeleton

from bot.i18n import Translator, make_filters
from bot.store import Store
from bot.store.statuses import InstalmentStatus
from dialogs.views import paused_dates, stored_pause_view

#: What happened to a payment -> its colour (colour-blind safe: Okabe-Ito hues).
STATUS_COLOURS = {"paid": "#009E73", "due": "#56B4E9", "missed": "#D55E00", "paused": "#E69F00"}
REMAINING_COLOUR = "#333333"
#: Fonts by language; the second catches any glyph the first lacks.
FAMILIES = {"zh_CN": ["Noto Sans CJK SC", "DejaVu Sans"], "en": ["DejaVu Sans", "Noto Sans CJK SC"]}
MAX_MONTH_LABELS = 12


@functools.cache
def _matplotlib() -> Any:
    """matplotlib with the Agg backend (no screen) and the CJK font registered, once."""
    import matplotlib

    matplotlib.use("Agg")
    import noto_cjk_sans_otc
    from matplotlib import font_manager

    font_manager.fontManager.addfont(str(noto_cjk_sans_otc.FONT_PATH))
    return matplotlib


def status_of(row: dict) -> str:
    """The chart's word for a payment: paid, missed, paused (interest only) or due."""
    if row["status"] in (InstalmentStatus.PAID, InstalmentStatus.MISSED):
        return str(row["status"])
    return "paused" if row.get("kind") == "interest_only" else "due"


def plan_chart(plan: dict, rows: list[dict], translator: Translator, locale: str, pauses: Sequence[dict] = ()) -> Any:
    """The chart as a matplotlib Figure (tests read its texts; `chart_png` draws it). Each
    month of a pause (`store.plan_pauses`: nothing to pay) has its place on the axis, shaded
    in the paused colour: it is part of the plan, but no payment."""
    matplotlib = _matplotlib()
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter

    money = make_filters(locale)["money"]
    currency = plan["currency"]

    def text(key: str, **data: Any) -> str:
        return translator.render(locale, f"file.chart.{key}", **data)

    def amount(value: float, _: object = None) -> str:  # an axis tick: float only for drawing
        return money(Decimal(str(round(value, 2))), currency)

    with matplotlib.rc_context({"font.family": FAMILIES[locale], "axes.spines.top": False}):
        figure = Figure(figsize=(9, 4.8), dpi=100, layout="constrained")
        axes = figure.add_subplot()
        shown_pauses = [stored_pause_view(pause) for pause in pauses]
        plan_day = due_day(rows, shown_pauses)
        paused = sorted(when for pause in shown_pauses for when in paused_dates(pause, plan_day))
        slots = sorted(
            [(r["due_date"], 1, r) for r in rows] + [(day, 0, None) for day in paused], key=lambda slot: slot[:2]
        )
        places = [n for n, (_, _, row) in enumerate(slots) if row is not None]
        for n, (_, _, row) in enumerate(slots):
            if row is None:
                axes.axvspan(n - 0.4, n + 0.4, color=STATUS_COLOURS["paused"], alpha=0.25, hatch="//", linewidth=0)
        paid = [float(min(r["paid"], r["amount"])) for r in rows]
        left = [float(r["amount"] - min(r["paid"], r["amount"])) for r in rows]
        statuses = [status_of(r) for r in rows]
        axes.bar(places, paid, color=STATUS_COLOURS["paid"], width=0.7)
        axes.bar(
            places, left, bottom=paid, width=0.7, color=[STATUS_COLOURS["due" if s == "paid" else s] for s in statuses]
        )
        axes.yaxis.set_major_formatter(FuncFormatter(amount))
        axes.set_ylim(0, max((float(r["amount"]) for r in rows), default=1) * 1.25)
        step = -(-len(slots) // MAX_MONTH_LABELS)
        labelled = list(range(len(slots)))[::step]
        axes.set_xticks(
            labelled,
            [format_skeleton("yMMM", day, locale=locale) for day, _, _ in slots[::step]],
            rotation=30 if len(labelled) > 6 else 0,
            ha="right" if len(labelled) > 6 else "center",
        )
        axes.set_xlabel(text("month"))
        axes.set_title(text("title", loan_id=plan["loan_id"]), loc="left")

        upcoming = next((i for i, r in enumerate(rows) if r["status"] != "paid"), None)
        still = [float(left) for left in still_to_pay(rows, upcoming)]
        balance = axes.twinx()
        balance.plot(
            places,
            still,
            color=REMAINING_COLOUR,
            marker="o",
            markersize=3,
            linewidth=1.5,
            drawstyle="steps-post" if paused else "default",
        )
        balance.yaxis.set_major_formatter(FuncFormatter(amount))
        balance.set_ylim(0, max([*still, 1.0]) * 1.1)
        balance.spines["top"].set_visible(False)

        if upcoming is not None:
            row, place = rows[upcoming], places[upcoming]
            axes.annotate(
                text("next", amount=row["amount"] - row["paid"], currency=currency, due=row["due_date"]),
                xy=(place, float(row["amount"])),
                xytext=(0, 18),
                textcoords="offset points",
                ha="left" if place < len(slots) / 2 else "right",
                arrowprops={"arrowstyle": "->", "color": REMAINING_COLOUR},
                fontsize=9,
            )
        else:
            axes.text(0.99, 0.95, text("done"), transform=axes.transAxes, ha="right", va="top")
        shown = [s for s in STATUS_COLOURS if s in statuses or (s == "due" and any(left))]
        handles = [Patch(color=STATUS_COLOURS[s], label=text(s)) for s in shown]
        if paused:
            handles.append(Patch(facecolor=STATUS_COLOURS["paused"], alpha=0.25, hatch="//", label=text("pause")))
        line = balance.get_lines()[0]
        line.set_label(text("remaining"))
        figure.legend(
            handles=[*handles, line], loc="outside lower center", fontsize=9, frameon=False, ncols=len(handles) + 1
        )
    return figure


def due_day(rows: list[dict], pauses: list[dict]) -> int:
    """The day of the month the plan's payments fall due: the latest day among its monthly due
    dates (instalments and pauses; a down payment or settlement has its own date). A due day
    past a month's end is clamped, but of any two months in a row one has 31 days, and these
    dates run month after month, so the latest is the plan's day once there are two."""
    monthly = [r["due_date"] for r in rows if r.get("kind") not in ("down_payment", "settlement")]
    return max(d.day for d in [*monthly, *(p["first"] for p in pauses), *(p["last"] for p in pauses)])


def still_to_pay(rows: list[dict], upcoming: int | None) -> list[Decimal]:
    """After each payment, what is still to pay: what was really paid up to the next unpaid
    payment, then as if every later payment is made as planned (the line ends at 0)."""
    left = sum((r["amount"] for r in rows), Decimal(0))
    after = []
    for index, row in enumerate(rows):
        left -= row["paid"] if upcoming is None or index < upcoming else row["amount"]
        after.append(max(left, Decimal(0)))
    return after


def chart_png(store: Store, plan_id: int, translator: Translator, locale: str) -> tuple[str, bytes]:
    """The plan chart (see the module docstring) as a PNG."""
    figure = plan_chart(
        store.plan(plan_id), store.plan_installments(plan_id), translator, locale, store.plan_pauses(plan_id)
    )
    buffer = io.BytesIO()
    with _matplotlib().rc_context({"font.family": FAMILIES[locale]}):
        figure.savefig(buffer, format="png")
    return f"plan-{plan_id}.png", buffer.getvalue()


def calendar_ics(store: Store, plan_id: int, translator: Translator, locale: str) -> tuple[str, bytes]:
    """One all-day event per instalment, with an alarm the morning before (on the day the
    borrower chose to pay; a pause has no event: there is nothing to pay then)."""
    from icalendar import Alarm, Calendar, Event

    plan = store.plan(plan_id)
    calendar = Calendar()
    calendar.add("prodid", "-//restructure-bot//plan//EN")
    calendar.add("version", "2.0")
    for row in store.plan_installments(plan_id):
        event = Event()
        event.add("uid", f"plan-{plan_id}-{row['number']}@restructure-bot")
        event.add("dtstamp", datetime.combine(plan["accepted_at"].date(), time(0), plan["accepted_at"].tzinfo))
        event.add("dtstart", row["due_date"])
        event.add("dtend", row["due_date"] + timedelta(days=1))
        event.add(
            "summary",
            translator.render(
                locale,
                "file.calendar_event",
                number=row["number"],
                amount=row["amount"],
                currency=plan["currency"],
                payments=plan["payments"],
            ),
        )
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", event["summary"])
        alarm.add("trigger", timedelta(hours=-14))
        event.add_component(alarm)
        calendar.add_component(event)
    return f"plan-{plan_id}.ics", calendar.to_ical()


MAKERS = {"chart": chart_png, "calendar": calendar_ics}


def make_file(store: Store, name: str, plan_id: int, translator: Translator, locale: str) -> tuple[str, bytes]:
    return MAKERS[name](store, plan_id, translator, locale)


def save_file(folder: Path, filename: str, content: bytes) -> Path:
    """Write `content` as `filename` in `folder`, or as `name-2.ext`, `name-3.ext`... if that
    is taken: an earlier chart or calendar is never silently replaced. The new path."""
    stem, suffix = Path(filename).stem, Path(filename).suffix
    for n in range(1, 10_000):
        path = folder / (filename if n == 1 else f"{stem}-{n}{suffix}")
        try:
            with path.open("xb") as handle:  # exclusive: fails if the file exists, even in a race
                handle.write(content)
        except FileExistsError:
            continue
        return path.resolve()
    raise FileExistsError(f"{folder}: too many files named {stem}-N{suffix}")
