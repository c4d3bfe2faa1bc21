"""Files a borrower can keep: a PNG chart of the plan's payments and an .ics calendar with
every due date (so their phone reminds them too). Made from the stored plan, on request."""
from __future__ import annotations

import io
from datetime import datetime, time, timedelta

from bot.i18n import Translator
from bot.store import Store

STATUS_COLOURS = {"paid": "#2e7d32", "partly_paid": "#f9a825", "missed": "#c62828", "due": "#90a4ae"}


def chart_png(store: Store, plan_id: int, translator: Translator, locale: str) -> tuple[str, bytes]:
    """Bars per instalment, coloured by status (matplotlib, no screen needed). The chart holds
    only numbers, dates and the currency code, so it reads the same in every language and needs
    no CJK font on the server; the message sent with it says what it shows."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    rows = store.plan_installments(plan_id)
    plan = store.plan(plan_id)
    figure = Figure(figsize=(8, 3.6), dpi=100)
    axes = figure.add_subplot()
    axes.bar([r["number"] for r in rows], [float(r["amount"]) for r in rows],  # float only for drawing
             color=[STATUS_COLOURS.get(r["status"], "#90a4ae") for r in rows])
    axes.set_xlabel("#")
    axes.set_ylabel(plan["currency"])
    axes.set_title(f"{plan['loan_id']}  #{plan_id}  {rows[0]['due_date']} – {rows[-1]['due_date']}")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return f"plan-{plan_id}.png", buffer.getvalue()


def calendar_ics(store: Store, plan_id: int, translator: Translator, locale: str) -> tuple[str, bytes]:
    """One all-day event per instalment, with an alarm the morning before."""
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
        event.add("summary", translator.render(locale, "file.calendar_event", number=row["number"],
                                               amount=row["amount"], currency=plan["currency"],
                                               payments=plan["payments"]))
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
