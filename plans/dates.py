"""Calendar rules for schedules.

Due dates fall on a fixed day of the month, clamped to the month's end (the 31st becomes
30 April, 28 or 29 February) without drifting: after February the 31st comes back.
Periods are measured in months, so a regular month is exactly 1 and a broken first
period is whole months plus the leftover days as a share of the month they fall in.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache

_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month - 1]


def add_months(start: date, months: int, day: int | None = None) -> date:
    """`start` moved by `months`, on `day` (default start's day) clamped to the month's end."""
    index = start.year * 12 + start.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day or start.day, _days_in_month(year, month)))


def first_due_date(as_of: date, due_day: int, min_days: int = 14) -> date:
    """The first date on `due_day` (clamped) at least `min_days` after `as_of`."""
    earliest = as_of + timedelta(days=min_days)
    candidate = add_months(date(earliest.year, earliest.month, 1), 0, due_day)
    if candidate < earliest:
        candidate = add_months(candidate, 1, due_day)
    return candidate


def due_dates(first: date, count: int, due_day: int | None = None) -> list[date]:
    """`count` monthly due dates from `first`, all on `due_day` (default first's day)."""
    day = due_day or first.day
    if count <= 0:
        return []
    # A quote asks for the same calendar many times (every structure, every term tried):
    # build it once, in blocks of 60 months, and slice it.
    return list(_due_dates(first, day, -(-count // 60) * 60)[:count])


@lru_cache(maxsize=256)
def _due_dates(first: date, day: int, count: int) -> tuple[date, ...]:
    year, month = first.year, first.month
    dates: list[date] = []
    append = dates.append
    for _ in range(count):  # add_months(first, k, day) for each k, a month at a time
        if day <= 28:
            append(date(year, month, day))
        else:
            append(date(year, month, min(day, _days_in_month(year, month))))
        month += 1
        if month == 13:
            year, month = year + 1, 1
    return tuple(dates)


@lru_cache(maxsize=1024)
def months_between(start: date, end: date) -> Decimal:
    """Length of [start, end] in months: whole months plus leftover days / days of that month."""
    if end < start:
        raise ValueError("end before start")
    whole = (end.year - start.year) * 12 + end.month - start.month
    while whole > 0 and add_months(start, whole) > end:
        whole -= 1
    anchor = add_months(start, whole)
    if anchor == end:
        return Decimal(whole)
    following = add_months(start, whole + 1)
    return Decimal(whole) + Decimal((end - anchor).days) / Decimal((following - anchor).days)


def month_number(day: date) -> int:
    """The calendar month of `day` as one number (year x 12 + month - 1), for month arithmetic."""
    return day.year * 12 + day.month - 1


def month_label(number: int) -> str:
    """ "YYYY-MM" for a `month_number`."""
    year, month = divmod(number, 12)
    return f"{year:04d}-{month + 1:02d}"


def due_dates_until(first: date, due_day: int, last_allowed: date) -> int:
    """How many monthly due dates from `first` (on `due_day`, clamped) fall on or before
    `last_allowed`."""
    if first > last_allowed:
        return 0
    months = month_number(last_allowed) - month_number(first)
    return months + (1 if add_months(first, months, due_day) <= last_allowed else 0)
