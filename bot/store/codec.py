"""Conversions between Python values and SQLite TEXT, shared by the store modules.

Money is TEXT (a Decimal written with `format(d, "f")`; floats refused), times are UTC ISO
strings with microseconds (so string order is time order), dates are ISO days, and anything
structured is JSON with Decimal and dates as strings. See `bot.store` for why.
"""
from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from bot.errors import StoreError


def to_money_text(value: Any) -> str:
    """A Decimal (or decimal string/int) as TEXT; floats are refused, never rounded."""
    if isinstance(value, float | bool):
        raise StoreError(f"amount {value!r} must be a Decimal or string, not {type(value).__name__}")
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise StoreError(f"amount {value!r} is not a number") from None
    if not amount.is_finite():
        raise StoreError(f"amount {value!r} is not finite")
    return format(amount, "f")


def to_decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def to_timestamp(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise StoreError(f"datetime {moment.isoformat()} has no time zone")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def from_timestamp(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def to_day(value: date | str) -> str:
    return value.isoformat() if isinstance(value, date) else date.fromisoformat(value).isoformat()


def _json_default(value: Any) -> Any:
    """JSON for what the engine and dialogues hold: Decimal and dates become strings."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime):
        return to_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot store {type(value).__name__} as JSON")


def to_json(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False, sort_keys=True)


def utc_now() -> datetime:
    return datetime.now(UTC)


