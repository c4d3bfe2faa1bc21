"""The lender's report: how borrowers move through the bot and how their plans are doing.

`build_report(store, tz=..., since=...)` gathers the figures (SQL in `bot.store.broadcasts`);
`render(report, format)` prints them as text, csv (metric,value rows), json (amounts as
strings) or one self-contained html page (inline CSS, inline SVG bar charts, no script, every
value escaped by Jinja2's autoescape).

Definitions (all "since DATE" filters start at 00:00 of DATE in BOT_TIMEZONE):

* funnel - distinct borrowers (chats, before one is identified) at each step: invited (had an
  invite created), started (a chat whose first message came in), identified, finances given,
  options shown, accepted (accepted a plan), declined (refused the privacy consent), no
  affordable plan (shown options and none fitted);
* structures chosen, average term (payments) and average monthly amount (mean of each plan's
  largest regular payment, per currency, 2 places) - over plans accepted since DATE;
* plan outcomes, as of today: on track (active, nothing missed or past due), late (active, an
  unpaid instalment past its due date but not yet missed), missed (active with a missed
  instalment), broken, completed, superseded; cure rate = (on track + completed) / every plan
  but the superseded ones (each was replaced by a plan that is itself counted);
* scheduled vs collected, per currency: instalments due from DATE up to today (a superseded or
  broken plan's only up to its end) against payments received in the same time; collection
  rate = collected / scheduled;
* unreachable borrowers: those who blocked the bot (phones masked).
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from decimal import ROUND_HALF_UP, Decimal

from babel.numbers import get_currency_precision
from jinja2 import Environment

from bot.store import Store
from bot.support.masking import mask_phone

FORMATS = ("text", "csv", "json", "html")
FUNNEL = ("invited", "started", "identified", "finances_given", "options_shown", "accepted", "declined",
          "no_affordable_plan")
OUTCOMES = ("on_track", "late", "missed", "broken", "completed", "superseded")
CENT = Decimal("0.01")


def _label(name: str) -> str:
    return name.replace("_", " ")


def _two_places(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _percent(numerator: Decimal | int, denominator: Decimal | int) -> Decimal | None:
    return _two_places(Decimal(numerator) * 100 / Decimal(denominator)) if denominator else None


@dataclass(frozen=True)
class Report:
    as_of: date
    since: date | None
    funnel: dict[str, int]
    structures: dict[str, int]
    average_term: Decimal | None
    average_monthly: dict[str, Decimal]  # by currency
    outcomes: dict[str, int]
    cured: int
    cure_base: int
    cure_rate: Decimal | None  # percent
    collections: dict[str, dict[str, Decimal | None]]  # currency -> scheduled, collected, rate (percent)
    unreachable: list[dict]  # id, phone (masked)

    def to_dict(self) -> dict:
        """Plain JSON data: counts as numbers, amounts and percentages as strings."""
        def text(value: object) -> str | None:
            return None if value is None else str(value)

        return {
            "as_of": self.as_of.isoformat(), "since": text(self.since),
            "funnel": self.funnel, "structures": self.structures,
            "average_term": text(self.average_term),
            "average_monthly": {c: str(v) for c, v in self.average_monthly.items()},
            "outcomes": self.outcomes,
            "cure_rate": {"percent": text(self.cure_rate), "numerator": self.cured, "denominator": self.cure_base},
            "collections": {c: {k: text(v) for k, v in row.items()} for c, row in self.collections.items()},
            "unreachable": {"count": len(self.unreachable), "borrowers": self.unreachable},
        }


def _outcome(plan: dict) -> str:
    if plan["status"] != "active":
        return plan["status"]
    return "missed" if plan["missed"] else "late" if plan["late"] else "on_track"


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
        monthly.setdefault(plan["currency"], []).append(plan["monthly_max"])
        outcomes[_outcome(plan)] += 1
    cured = outcomes["on_track"] + outcomes["completed"]
    cure_base = len(plans) - outcomes["superseded"]

    scheduled = {row["currency"]: row["amount"] for row in store.report_scheduled(since, today)}
    collected = {row["currency"]: row["amount"] for row in store.report_collected(since_at, now)}
    collections = {}
    for currency in sorted(set(scheduled) | set(collected)):
        unit = Decimal(1).scaleb(-get_currency_precision(currency))
        due, paid = (totals.get(currency, Decimal(0)).quantize(unit) for totals in (scheduled, collected))
        collections[currency] = {"scheduled": due, "collected": paid, "rate": _percent(paid, due)}

    return Report(
        as_of=today, since=since, funnel=store.report_funnel(since_at),
        structures=dict(sorted(structures.items(), key=lambda item: (-item[1], item[0]))),
        average_term=_two_places(Decimal(sum(p["payments"] for p in plans)) / len(plans)) if plans else None,
        average_monthly={c: _two_places(sum(v, Decimal(0)) / len(v)) for c, v in sorted(monthly.items())},
        outcomes=outcomes, cured=cured, cure_base=cure_base, cure_rate=_percent(cured, cure_base),
        collections=collections,
        unreachable=[{"id": row["id"], "phone": mask_phone(row["phone"])} for row in store.unreachable_borrowers()],
    )


# --------------------------------------------------------------------------- formats


def metrics(report: Report) -> list[tuple[str, str]]:
    """Every figure as (metric, value) - the csv rows."""
    def flat(prefix: str, value) -> list[tuple[str, str]]:
        if isinstance(value, dict):
            return [row for key, inner in value.items() for row in flat(f"{prefix}.{key}" if prefix else key, inner)]
        if isinstance(value, list):  # the unreachable borrowers
            return [(f"{prefix}.{item['id']}", item["phone"]) for item in value]
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


def as_text(report: Report) -> str:
    r = report
    lines = [f"Report as of {r.as_of}" + (f", since {r.since}" if r.since else ""), "", "Funnel"]
    lines += [f"  {_label(k):<20} {v:>8}" for k, v in r.funnel.items()]
    lines += ["", "Structures chosen"]
    lines += [f"  {_label(k):<20} {v:>8}" for k, v in r.structures.items()] or ["  (no plans)"]
    lines.append(f"  {'average term':<20} {r.average_term if r.average_term is not None else '-':>8} payments")
    lines += [f"  {'average monthly':<20} {v:>8} {c}" for c, v in r.average_monthly.items()]
    lines += ["", "Plan outcomes"]
    lines += [f"  {_label(k):<20} {v:>8}" for k, v in r.outcomes.items()]
    cure = f"{r.cure_rate}%" if r.cure_rate is not None else "-"
    lines.append(f"  {'cure rate':<20} {cure:>8} ({r.cured} of {r.cure_base} plans not superseded)")
    lines += ["", "Scheduled vs collected"]
    for currency, row in r.collections.items():
        rate = f"{row['rate']}%" if row["rate"] is not None else "-"
        lines.append(f"  {currency}: scheduled {row['scheduled']}, collected {row['collected']}, rate {rate}")
    if not r.collections:
        lines.append("  (nothing due yet)")
    lines += ["", f"Unreachable borrowers: {len(r.unreachable)}"]
    lines += [f"  {item['id']:>8}  {item['phone']}" for item in r.unreachable]
    return "\n".join(lines)


BAR_WIDTH = 360


OUTCOME_COLOURS = {"on_track": "#2f8f5b", "late": "#d39b1f", "missed": "#d0622b", "broken": "#a62b2b",
                   "completed": "#3b6fb6", "superseded": "#8a96a3"}


def _bars(values: dict[str, int], colours: dict[str, str] | None = None) -> list[dict]:
    """Rows of a horizontal bar chart: label, value, bar width in pixels (0-BAR_WIDTH), colour."""
    top = max(values.values(), default=0)
    return [{"label": _label(k), "value": v, "width": round(BAR_WIDTH * v / top) if top else 0,
             "colour": (colours or {}).get(k, "#3b6fb6")} for k, v in values.items()]


_HTML = Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string("""\
<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>Repayment plans report {{ r.as_of }}</title>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 52em; color: #1d2733; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #d5dbe3; }
table { border-collapse: collapse; } td, th { padding: .2em 1em .2em 0; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
svg text { font: 13px system-ui, sans-serif; fill: #1d2733; }
.muted { color: #5d6b7a; }
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
{% for name, count in r.structures.items() %}<tr><td>{{ name }}</td><td class="n">{{ count }}</td></tr>
{% else %}<tr><td class="muted">No plans yet.</td></tr>
{% endfor %}
<tr><td>average term</td><td class="n">{{ r.average_term if r.average_term is not none else "-" }}</td><td>payments</td></tr>
{% for currency, amount in r.average_monthly.items() %}
<tr><td>average monthly</td><td class="n">{{ amount }}</td><td>{{ currency }}</td></tr>
{% endfor %}
</table>
<h2>Plan outcomes</h2>
{{ chart("Plan outcomes", outcomes) }}
<p>Cure rate (on track + completed, of plans not superseded):
<b>{{ r.cure_rate ~ "%" if r.cure_rate is not none else "-" }}</b> ({{ r.cured }} of {{ r.cure_base }})</p>
<h2>Scheduled vs collected</h2>
<table><tr><th>currency</th><th>scheduled</th><th>collected</th><th>rate</th></tr>
{% for currency, row in r.collections.items() %}
<tr><td>{{ currency }}</td><td class="n">{{ row.scheduled }}</td><td class="n">{{ row.collected }}</td>
<td class="n">{{ row.rate ~ "%" if row.rate is not none else "-" }}</td></tr>
{% endfor %}
</table>
<h2>Unreachable borrowers ({{ r.unreachable|length }})</h2>
<p class="muted">They blocked the bot: reach them another way.</p>
<table>{% for item in r.unreachable %}<tr><td>{{ item.id }}</td><td>{{ item.phone }}</td></tr>{% endfor %}</table>
</body></html>
""")


def as_html(report: Report) -> str:
    return _HTML.render(r=report, funnel=_bars(report.funnel), outcomes=_bars(report.outcomes, OUTCOME_COLOURS),
                        width=BAR_WIDTH)


def render(report: Report, fmt: str) -> str:
    return {"text": as_text, "csv": as_csv, "json": as_json, "html": as_html}[fmt](report)
