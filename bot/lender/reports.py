"""The lender's report: how borrowers move through the bot, how their plans are doing, and
which ones to call before they fail.

`build_report(store, tz=..., since=...)` gathers the figures (SQL in `bot.store.reports`);
`render(report, format)` prints them as text, csv (metric,value rows), json (amounts as
strings) or one self-contained html page (inline CSS, inline SVG charts, no script, every
value escaped by Jinja2's autoescape).

Definitions (all "since DATE" filters start at 00:00 of DATE in BOT_TIMEZONE):

* funnel - distinct borrowers (chats, before one is identified) at each step: invited (had an
  invite created), started (a chat whose first message came in), identified, finances given,
  options shown, accepted (accepted a plan), declined (refused the privacy consent), no
  affordable plan (shown options and none fitted);
* structures chosen, average term (payments), and the average monthly payment per currency:
  the mean, over the plans accepted since DATE, of each plan's own average payment (its
  payments but a down payment, averaged), so a step-up plan counts at its average, not its
  largest payment;
* plan outcomes, as of today: on track (active, nothing missed or past due), late (active, an
  unpaid instalment past its due date but not yet missed), missed (active with a missed
  instalment), broken, completed, superseded; cure rate = (on track + completed) / every plan
  but the superseded ones (each was replaced by a plan that is itself counted);
* scheduled vs collected, per currency and month: *scheduled* is the instalments that fall due
  in the month (a superseded or broken plan's only until it ended), *collected* the payments
  received in the month (BOT_TIMEZONE), whichever instalment they paid: a payment made early
  counts in the month it arrived, not the month it was due. Months run from DATE (or the first
  due date or payment, at most `MONTHS_BACK` months ago) to the next month, whose figures are
  still to come. The totals to date: due from DATE up to today against received in that time;
  collection rate = collected / scheduled;
* at risk: the active plans most likely to fail next, so someone can call before a miss:
  ranked by missed instalments, then instalments past due, then payments the borrower reported
  that no import has confirmed, then the lowest completion likelihood the engine gave the plan
  when it was agreed (`plans.evaluate`: affordability margin, outlook, history, length); plans
  with none of these signs are left out; the first `AT_RISK_SHOWN`;
* unreachable borrowers: those who blocked the bot (phones masked).
"""

from __future__ import annotations

import csv
import functools
import io
import json
import textwrap
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from jinja2 import Environment

from bot import i18n
from bot.store import Store
from bot.store.statuses import PlanStatus
from bot.support.masking import mask_phone
from plans.money import quantize, round_places

FORMATS = ("text", "csv", "json", "html")
OUTCOMES = ("on_track", "late", "missed", "broken", "completed", "superseded")
MONTHS_BACK = 24
AT_RISK_SHOWN = 20

AVERAGE_MONTHLY = "mean of each plan's average payment, down payments left out"
MONTHS_EXPLAINED = (
    "scheduled: instalments falling due in the month (a superseded or broken plan's only until it"
    " ended); collected: payments received in the month, whichever instalment they paid (an early"
    " payment counts in the month it arrived)"
)
AT_RISK_EXPLAINED = (
    "ranked by missed instalments, then instalments past due, then payments reported but not yet"
    " confirmed, then the lowest completion likelihood the engine gave when the plan was agreed"
)


def _label(name: str) -> str:
    return name.replace("_", " ")


@functools.lru_cache(maxsize=64)
def structure_label(name: str) -> str:
    """A structure as the English messages name it ("Lower now, higher after your income
    recovers"), or its key read aloud if the catalogue has no such structure."""
    try:
        return i18n.plain_text(i18n.render("en", f"label.structure.{name}"))
    except KeyError:
        return _label(name)


def _percent(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    return round_places(Decimal(numerator) * 100 / Decimal(denominator), 2) if denominator else None


def _months(first: date, last: date) -> list[str]:
    """ "YYYY-MM" from the month of `first` to the month of `last`."""
    months, year, month = [], first.year, first.month
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _add_months(day: date, months: int) -> date:
    """The first day of the month `months` after (or before) the month of `day`."""
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class Report:
    as_of: date
    since: date | None
    funnel: dict[str, int]
    structures: dict[str, int]
    average_term: Decimal | None
    average_monthly: dict[str, Decimal]  # by currency: see the module docstring
    outcomes: dict[str, int]
    cured: int
    cure_base: int
    cure_rate: Decimal | None  # percent
    collections: dict[str, dict[str, Decimal | None]]  # currency -> scheduled, collected, rate (to date)
    months: dict[str, dict[str, dict[str, Decimal]]]  # currency -> "YYYY-MM" -> scheduled, collected
    at_risk: list[dict]  # plan_id, loan_id, borrower_id, missed, late, reported, likelihood, next_due
    unreachable: list[dict]  # id, phone (masked)

    def to_dict(self) -> dict:
        """Plain JSON data: counts as numbers, amounts, percentages and dates as strings."""

        def text(value: object) -> str | None:
            return None if value is None else str(value)

        return {
            "as_of": self.as_of.isoformat(),
            "since": text(self.since),
            "funnel": self.funnel,
            "structures": self.structures,
            "average_term": text(self.average_term),
            "average_monthly": {c: str(v) for c, v in self.average_monthly.items()},
            "outcomes": self.outcomes,
            "cure_rate": {"percent": text(self.cure_rate), "numerator": self.cured, "denominator": self.cure_base},
            "collections": {c: {k: text(v) for k, v in row.items()} for c, row in self.collections.items()},
            "months": {
                c: {m: {k: str(v) for k, v in row.items()} for m, row in months.items()}
                for c, months in self.months.items()
            },
            "at_risk": {
                "count": len(self.at_risk),
                "plans": [
                    {k: v if isinstance(v, int) or v is None else str(v) for k, v in plan.items()}
                    for plan in self.at_risk
                ],
            },
            "unreachable": {"count": len(self.unreachable), "borrowers": self.unreachable},
        }


def _outcome(plan: dict) -> str:
    if plan["status"] != PlanStatus.ACTIVE:
        return str(plan["status"])
    return "missed" if plan["missed"] else "late" if plan["late"] else "on_track"


def _risk(plan: dict) -> tuple:
    """Sort key: the most at risk first (see the module docstring)."""
    likelihood = plan["likelihood"] if plan["likelihood"] is not None else Decimal(2)  # unknown: after known
    return (-plan["missed"], -plan["late"], -plan["reported"], likelihood, plan["next_due"] or date.max, plan["id"])


def at_risk(plans: list[dict]) -> list[dict]:
    """The active plans showing a sign of trouble, most at risk first (module docstring)."""
    risky = [
        p
        for p in plans
        if p["status"] == PlanStatus.ACTIVE
        and (p["missed"] or p["late"] or p["reported"] or p["likelihood"] is not None)
    ]
    return [
        {
            "plan_id": p["id"],
            "loan_id": p["loan_id"],
            "borrower_id": p["borrower_id"],
            "missed": p["missed"],
            "late": p["late"],
            "reported": p["reported"],
            "currency": p["currency"],
            "likelihood": p["likelihood"],
            "next_due": p["next_due"],
        }
        for p in sorted(risky, key=_risk)[:AT_RISK_SHOWN]
    ]


def build_report(store: Store, *, tz: tzinfo, since: date | None = None) -> Report:
    now = store.clock()
    today = now.astimezone(tz).date()
    since_at = datetime.combine(since, time(), tz) if since else None
    plans = store.report_plans(since_at, today)

    structures: dict[str, int] = {}
    monthly: dict[str, list[Decimal]] = {}
    outcomes = dict.fromkeys(OUTCOMES, 0)
    for plan in plans:
        structures[plan["structure"]] = structures.get(plan["structure"], 0) + 1
        monthly.setdefault(plan["currency"], []).append(sum(plan["regular"], Decimal(0)) / len(plan["regular"]))
        outcomes[_outcome(plan)] += 1
    cured = outcomes["on_track"] + outcomes["completed"]
    cure_base = len(plans) - outcomes["superseded"]

    collections, months = _collections(store, tz, since, since_at, today, now)
    return Report(
        as_of=today,
        since=since,
        funnel=store.report_funnel(since_at),
        structures=dict(sorted(structures.items(), key=lambda item: (-item[1], item[0]))),
        average_term=round_places(Decimal(sum(p["payments"] for p in plans)) / len(plans), 2) if plans else None,
        average_monthly={c: quantize(sum(v, Decimal(0)) / len(v), c) for c, v in sorted(monthly.items())},
        outcomes=outcomes,
        cured=cured,
        cure_base=cure_base,
        cure_rate=_percent(cured, cure_base),
        collections=collections,
        months=months,
        at_risk=at_risk(plans),
        unreachable=[{"id": row["id"], "phone": mask_phone(row["phone"])} for row in store.unreachable_borrowers()],
    )


def _collections(
    store: Store, tz: tzinfo, since: date | None, since_at: datetime | None, today: date, now: datetime
) -> tuple[dict, dict]:
    """Scheduled vs collected: to date (totals) and by month (module docstring)."""
    start = since or max(store.report_first_activity() or today, _add_months(today, 1 - MONTHS_BACK))
    next_month_end = _add_months(today, 2) - timedelta(days=1)
    keys = _months(start, next_month_end)
    totals: dict[str, dict[str, Decimal]] = {}
    by_month: dict[str, dict[str, dict[str, Decimal]]] = {}

    def add(currency: str, month: str, what: str, amount: Decimal, to_date: bool) -> None:
        if to_date:
            totals.setdefault(currency, {"scheduled": Decimal(0), "collected": Decimal(0)})[what] += amount
        if month in keys:
            row = by_month.setdefault(currency, {}).setdefault(
                month, {"scheduled": Decimal(0), "collected": Decimal(0)}
            )
            row[what] += amount

    for row in store.report_instalments_due(since or date.min, next_month_end):
        add(
            row["currency"],
            row["due_date"].isoformat()[:7],
            "scheduled",
            row["amount"],
            (since is None or row["due_date"] >= since) and row["due_date"] <= today,
        )
    for row in store.report_payments(since_at, now):
        add(row["currency"], row["paid_at"].astimezone(tz).date().isoformat()[:7], "collected", row["amount"], True)

    collections = {}
    for currency in sorted(totals):
        due, paid = (quantize(totals[currency][what], currency) for what in ("scheduled", "collected"))
        collections[currency] = {"scheduled": due, "collected": paid, "rate": _percent(paid, due)}
    months = {
        currency: {
            month: {
                what: quantize(by_month[currency].get(month, {}).get(what, Decimal(0)), currency)
                for what in ("scheduled", "collected")
            }
            for month in keys
        }
        for currency in sorted(by_month)
    }
    return collections, months


# --------------------------------------------------------------------------- formats


def metrics(report: Report) -> list[tuple[str, str]]:
    """Every figure as (metric, value) - the csv rows. A list of records is keyed by each
    record's first field (`unreachable.borrowers.5`, `at_risk.plans.3.missed`)."""

    def flat(prefix: str, value) -> list[tuple[str, str]]:
        if isinstance(value, dict):
            return [row for key, inner in value.items() for row in flat(f"{prefix}.{key}" if prefix else key, inner)]
        if isinstance(value, list):
            rows = []
            for item in value:
                key, *rest = item.items()
                inner = rest[0][1] if len(rest) == 1 else dict(rest)
                rows += flat(f"{prefix}.{key[1]}", inner)
            return rows
        return [(prefix, "" if value is None else str(value))]

    return flat("", report.to_dict())


def as_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("metric", "value"))
    writer.writerows(metrics(report))
    return out.getvalue()


def as_json(report: Report) -> str:
    return json.dumps(report.to_dict(), ensure_ascii=False, indent=2)


def _likelihood(value: Decimal | None) -> str:
    return "-" if value is None else f"{round_places(value * 100, 2)}%"


def _wrapped(text: str) -> str:
    return textwrap.fill(text, 100, initial_indent="  ", subsequent_indent="   ")


def as_text(report: Report) -> str:
    r = report
    lines = [f"Report as of {r.as_of}" + (f", since {r.since}" if r.since else ""), "", "Funnel"]
    lines += [f"  {_label(k):<20} {v:>8}" for k, v in r.funnel.items()]
    lines += ["", "Structures chosen"]
    lines += [f"  {structure_label(k):<45} {v:>5}" for k, v in r.structures.items()] or ["  (no plans)"]
    lines.append(f"  {'average term':<20} {r.average_term if r.average_term is not None else '-':>8} payments")
    lines += [f"  {'average monthly':<20} {v:>8} {c} ({AVERAGE_MONTHLY})" for c, v in r.average_monthly.items()]
    lines += ["", "Plan outcomes"]
    lines += [f"  {_label(k):<20} {v:>8}" for k, v in r.outcomes.items()]
    cure = f"{r.cure_rate}%" if r.cure_rate is not None else "-"
    lines.append(f"  {'cure rate':<20} {cure:>8} ({r.cured} of {r.cure_base} plans not superseded)")
    lines += ["", "Scheduled vs collected", _wrapped(f"({MONTHS_EXPLAINED})")]
    for currency, row in r.collections.items():
        rate = f"{row['rate']}%" if row["rate"] is not None else "-"
        lines.append(f"  {currency}: scheduled {row['scheduled']}, collected {row['collected']}, rate {rate} (to date)")
    if not r.collections:
        lines.append("  (nothing due yet)")
    for currency, months in r.months.items():
        lines.append(f"  {currency} {'month':<8} {'scheduled':>14} {'collected':>14}")
        for month, figures in months.items():
            to_come = "  (to come)" if month > r.as_of.isoformat()[:7] else ""
            lines.append(f"      {month:<8} {figures['scheduled']:>14} {figures['collected']:>14}{to_come}")
    lines += [
        "",
        f"At risk: {len(r.at_risk)} active plans most likely to fail next",
        _wrapped(f"({AT_RISK_EXPLAINED})"),
    ]
    if r.at_risk:
        lines.append(
            f"  {'plan':>6}  {'loan':<12} {'borrower':>8} {'missed':>6} {'late':>5} {'reported':>10}"
            f"  {'likelihood':>10}  next due"
        )
    for p in r.at_risk:
        lines.append(
            f"  {p['plan_id']:>6}  {p['loan_id']:<12} {p['borrower_id']:>8} {p['missed']:>6} {p['late']:>5}"
            f" {p['reported']:>10}  {_likelihood(p['likelihood']):>10}  {p['next_due'] or '-'}"
        )
    lines += ["", f"Unreachable borrowers: {len(r.unreachable)}"]
    lines += [f"  {item['id']:>8}  {item['phone']}" for item in r.unreachable]
    return "\n".join(lines)


BAR_WIDTH = 360
MONTH_CHART_HEIGHT = 160
MONTH_STEP = 64  # pixels per month: two bars and the month's label
SCHEDULED_COLOUR, COLLECTED_COLOUR = "#8a96a3", "#2f8f5b"
OUTCOME_COLOURS = {
    "on_track": "#2f8f5b",
    "late": "#d39b1f",
    "missed": "#d0622b",
    "broken": "#a62b2b",
    "completed": "#3b6fb6",
    "superseded": "#8a96a3",
}


def _bars(values: dict[str, int], colours: dict[str, str] | None = None) -> list[dict]:
    """Rows of a horizontal bar chart: label, value, bar width in pixels (0-BAR_WIDTH), colour."""
    top = max(values.values(), default=0)
    return [
        {
            "label": _label(k),
            "value": v,
            "width": round(BAR_WIDTH * v / top) if top else 0,
            "colour": (colours or {}).get(k, "#3b6fb6"),
        }
        for k, v in values.items()
    ]


def _month_bars(months: dict[str, dict[str, Decimal]], as_of: date) -> dict:
    """A grouped bar chart per month (scheduled, collected): heights in pixels of
    MONTH_CHART_HEIGHT, the values as labels."""
    top = max((v for row in months.values() for v in row.values()), default=Decimal(0))

    def height(value: Decimal) -> int:
        return round(MONTH_CHART_HEIGHT * value / top) if top else 0

    return {
        "width": 60 + MONTH_STEP * len(months),
        "rows": [
            {
                "month": month,
                "to_come": month > as_of.isoformat()[:7],
                "scheduled": row["scheduled"],
                "collected": row["collected"],
                "scheduled_height": height(row["scheduled"]),
                "collected_height": height(row["collected"]),
            }
            for month, row in months.items()
        ],
    }


_HTML = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string("""\
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Repayment plans report {{ r.as_of }}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 60em; color: #1d2733; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #d5dbe3; }
table { border-collapse: collapse; } td, th { padding: .2em 1em .2em 0; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
svg text { font: 12px system-ui, sans-serif; fill: #1d2733; }
.muted { color: #5d6b7a; } .key { display: inline-block; width: .8em; height: .8em; margin: 0 .3em 0 1em; }
</style></head><body>
<h1>Repayment plans report</h1>
<p class="muted">As of {{ r.as_of }}{% if r.since %}, since {{ r.since }}{% endif %}.</p>
{% macro chart(title, rows) %}
<svg role="img" aria-label="{{ title }}" width="{{ 170 + width + 60 }}" height="{{ rows|length * 26 + 8 }}"
     xmlns="http://www.w3.org/2000/svg">
{% for row in rows %}
  <text x="160" y="{{ loop.index0 * 26 + 21 }}" text-anchor="end">{{ row.label }}</text>
  <rect x="170" y="{{ loop.index0 * 26 + 6 }}" width="{{ row.width }}" height="20" fill="{{ row.colour }}"></rect>
  <text x="{{ 176 + row.width }}" y="{{ loop.index0 * 26 + 21 }}">{{ row.value }}</text>
{% endfor %}
</svg>
{% endmacro %}
<h2>Funnel</h2>
{{ chart("Funnel", funnel) }}
<h2>Plans chosen</h2>
<table>
{% for name, count in r.structures.items() %}<tr><td>{{ label(name) }}</td><td class="n">{{ count }}</td></tr>
{% else %}<tr><td class="muted">No plans yet.</td></tr>
{% endfor %}
<tr><td>Average term</td><td class="n">{{ r.average_term if r.average_term is not none else "-" }}</td>
<td>payments</td></tr>
{% for currency, amount in r.average_monthly.items() %}
<tr><td>Average monthly payment</td><td class="n">{{ amount }}</td><td>{{ currency }}</td></tr>
{% endfor %}
</table>
<p class="muted">Average monthly payment: the {{ average_monthly }}.</p>
<h2>Plan outcomes</h2>
{{ chart("Plan outcomes", outcomes) }}
<p>Cure rate (on track + completed, of plans not superseded):
<b>{{ r.cure_rate ~ "%" if r.cure_rate is not none else "-" }}</b> ({{ r.cured }} of {{ r.cure_base }})</p>
<h2>Scheduled vs collected</h2>
<p class="muted">{{ months_explained|capitalize }}. Months to come show what is scheduled.</p>
{% for currency, chart in month_charts.items() %}
<p><span class="key" style="background: {{ scheduled_colour }}"></span>scheduled
<span class="key" style="background: {{ collected_colour }}"></span>collected ({{ currency }})</p>
<svg role="img" aria-label="Scheduled vs collected by month, {{ currency }}" width="{{ chart.width }}"
     height="{{ chart_height + 60 }}" xmlns="http://www.w3.org/2000/svg">
{% for m in chart.rows %}
  {% set x = 40 + loop.index0 * step %}
  <rect x="{{ x }}" y="{{ chart_height + 10 - m.scheduled_height }}" width="18" height="{{ m.scheduled_height }}"
        fill="{{ scheduled_colour }}"{% if m.to_come %} fill-opacity="0.45"{% endif %}>
    <title>{{ m.month }} scheduled {{ m.scheduled }}</title></rect>
  <rect x="{{ x + 19 }}" y="{{ chart_height + 10 - m.collected_height }}" width="18"
        height="{{ m.collected_height }}" fill="{{ collected_colour }}">
    <title>{{ m.month }} collected {{ m.collected }}</title></rect>
  <text x="{{ x + 18 }}" y="{{ chart_height + 28 }}" text-anchor="middle">{{ m.month }}</text>
{% endfor %}
  <line x1="36" x2="{{ chart.width }}" y1="{{ chart_height + 10 }}" y2="{{ chart_height + 10 }}"
        stroke="#5d6b7a"></line>
</svg>
<table><tr><th>{{ currency }}</th><th class="n">scheduled</th><th class="n">collected</th></tr>
{% for m in chart.rows %}<tr><td>{{ m.month }}{% if m.to_come %} (to come){% endif %}</td>
<td class="n">{{ m.scheduled }}</td><td class="n">{{ m.collected }}</td></tr>
{% endfor %}
</table>
{% endfor %}
<table><tr><th>to date</th><th class="n">scheduled</th><th class="n">collected</th><th class="n">rate</th></tr>
{% for currency, row in r.collections.items() %}
<tr><td>{{ currency }}</td><td class="n">{{ row.scheduled }}</td><td class="n">{{ row.collected }}</td>
<td class="n">{{ row.rate ~ "%" if row.rate is not none else "-" }}</td></tr>
{% endfor %}
</table>
<h2>At risk ({{ r.at_risk|length }})</h2>
<p class="muted">Active plans most likely to fail next: {{ at_risk_explained }}. Reach out before a miss.</p>
<table><tr><th>plan</th><th>loan</th><th>borrower</th><th class="n">missed</th><th class="n">late</th>
<th class="n">reported, not confirmed</th><th class="n">completion likelihood</th><th>next due</th></tr>
{% for p in r.at_risk %}<tr><td>{{ p.plan_id }}</td><td>{{ p.loan_id }}</td><td>{{ p.borrower_id }}</td>
<td class="n">{{ p.missed }}</td><td class="n">{{ p.late }}</td><td class="n">{{ p.reported }} {{ p.currency }}</td>
<td class="n">{{ likelihood(p.likelihood) }}</td><td>{{ p.next_due or "-" }}</td></tr>
{% endfor %}
</table>
<h2>Unreachable borrowers ({{ r.unreachable|length }})</h2>
<p class="muted">They blocked the bot: reach them another way.</p>
<table>{% for item in r.unreachable %}<tr><td>{{ item.id }}</td><td>{{ item.phone }}</td></tr>{% endfor %}</table>
</body></html>
""")


def as_html(report: Report) -> str:
    return _HTML.render(
        r=report,
        funnel=_bars(report.funnel),
        outcomes=_bars(report.outcomes, OUTCOME_COLOURS),
        width=BAR_WIDTH,
        label=structure_label,
        likelihood=_likelihood,
        average_monthly=AVERAGE_MONTHLY,
        months_explained=MONTHS_EXPLAINED,
        at_risk_explained=AT_RISK_EXPLAINED,
        chart_height=MONTH_CHART_HEIGHT,
        scheduled_colour=SCHEDULED_COLOUR,
        collected_colour=COLLECTED_COLOUR,
        step=MONTH_STEP,
        month_charts={c: _month_bars(m, report.as_of) for c, m in report.months.items()},
    )


def render(report: Report, fmt: str) -> str:
    return {"text": as_text, "csv": as_csv, "json": as_json, "html": as_html}[fmt](report)
