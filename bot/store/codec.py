"""Python values <-> SQLite, and the one map of which column holds what (`TABLES`).

Money is TEXT (a Decimal written with `format(d, "f")`; floats refused), times are UTC ISO
strings with microseconds (so string order is time order), days are ISO dates, flags are 0/1,
statuses are their enum's values (`bot.store.statuses`), and anything structured is JSON with
Decimal and dates as strings. See `bot.store.core` for why.

Every query reads its rows through `TABLES` (`StoreBase._rows(sql, params, codecs)`): a money
column comes back as Decimal, a time as an aware datetime, a day as a date, a flag as a bool,
JSON decoded, a status as its enum member, whichever module asked; NULL stays None.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from bot.errors import StoreError
from bot.store.statuses import (
    BroadcastStatus,
    InstalmentStatus,
    OutboxKind,
    OutboxStatus,
    PlanStatus,
    RecipientStatus,
    ReminderStatus,
)

# ------------------------------------------------------------------ one value


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


# ------------------------------------------------------------------ kinds of column


@dataclass(frozen=True)
class Codec:
    """How one kind of column is written (`encode`) and read back (`decode`); NULL is None
    both ways and never reaches either."""

    name: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]


def _status(enum: type[StrEnum]) -> Codec:
    """A status column: only the enum's values are written (ValueError otherwise), and read
    back as its members."""
    return Codec(enum.__name__, lambda value: enum(value).value, enum)


MONEY = Codec("money", to_money_text, Decimal)
TIME = Codec("time", to_timestamp, datetime.fromisoformat)
DAY = Codec("day", to_day, date.fromisoformat)
FLAG = Codec("flag", int, bool)
JSON = Codec("json", to_json, json.loads)

Codecs = Mapping[str, Codec]

LOAN_AMOUNTS = (
    "outstanding_principal",
    "overdue_principal",
    "overdue_interest",
    "penalty_fees",
    "annual_rate",
    "monthly_payment",
)
PLAN_AMOUNTS = ("monthly_min", "monthly_max", "total_repayable", "apr")
INSTALMENT_AMOUNTS = ("amount", "principal", "interest", "fees")

#: Every column that is not read as SQLite returns it (TEXT as str, INTEGER as int), by table.
TABLES: dict[str, Codecs] = {
    "borrowers": {"created_at": TIME, "unreachable_at": TIME},
    "loans": {**dict.fromkeys(LOAN_AMOUNTS, MONEY), "next_due_date": DAY, "imported_at": TIME, "updated_at": TIME},
    "invites": {"created_at": TIME, "expires_at": TIME, "used_at": TIME},
    "conversations": {"data": JSON, "updated_at": TIME, "needs_person": FLAG},
    "messages": {"at": TIME, "buttons": JSON, "meta": JSON, "sent_at": TIME},
    "audit": {"at": TIME, "details": JSON},
    "identification_attempts": {"at": TIME, "ok": FLAG},
    "plans": {
        **dict.fromkeys(PLAN_AMOUNTS, MONEY),
        "first_due_date": DAY,
        "accepted_at": TIME,
        "ended_at": TIME,
        "status": _status(PlanStatus),
        "terms": JSON,
    },
    "installments": {
        **dict.fromkeys((*INSTALMENT_AMOUNTS, "paid", "reported"), MONEY),
        "due_date": DAY,
        "paid_at": TIME,
        "reported_at": TIME,
        "status": _status(InstalmentStatus),
    },
    "plan_pauses": {"first_date": DAY, "last_date": DAY, "capitalised": MONEY},
    "payments": {"amount": MONEY, "unapplied": MONEY, "paid_at": TIME, "imported_at": TIME},
    "reminders": {
        "send_at": TIME,
        "next_attempt_at": TIME,
        "sent_at": TIME,
        "created_at": TIME,
        "status": _status(ReminderStatus),
    },
    "broadcasts": {"paid": FLAG, "created_at": TIME, "finished_at": TIME, "status": _status(BroadcastStatus)},
    "broadcast_recipients": {"sent_at": TIME, "status": _status(RecipientStatus)},
    "support_users": {"created_at": TIME, "disabled": FLAG},
    "support_sessions": {"created_at": TIME, "expires_at": TIME, "last_seen_at": TIME},
    "support_login_attempts": {"at": TIME, "ok": FLAG, "refused": FLAG},
    "support_known_browsers": {"created_at": TIME},
    "support_notes": {"at": TIME},
    "tickets": {"opened_at": TIME, "closed_at": TIME},
    "relayed_messages": {"at": TIME},
    "support_outbox": {
        "kind": _status(OutboxKind),
        "created_at": TIME,
        "next_try_at": TIME,
        "claimed_at": TIME,
        "done_at": TIME,
        "status": _status(OutboxStatus),
    },
    "inbox": {"received_at": TIME, "telegram_ids": JSON},
    "dead_letters": {"received_at": TIME, "telegram_ids": JSON},
}


def columns(*tables: str, **computed: Codec) -> Codecs:
    """The codecs of a query over several tables (a join), plus its computed columns by name.
    Two tables that read a column of the same name differently make it ambiguous: the query
    must then name its own (`columns("installments")` for `i.status`, not plans' status)."""
    merged: dict[str, Codec] = {}
    for table in tables:
        for name, codec in TABLES[table].items():
            if merged.get(name, codec) != codec:
                raise ValueError(f"column {name!r} of {table} is read otherwise in {tables}: name one table")
            merged[name] = codec
    return {**merged, **computed}


def encode(table: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` (column -> Python value) as the table stores them."""
    codecs = TABLES[table]
    return {
        name: value if value is None or name not in codecs else codecs[name].encode(value)
        for name, value in values.items()
    }


def decoder(keys: list[str], codecs: Codecs) -> Callable[[tuple], dict[str, Any]]:
    """A function from one result row (a tuple in `keys` order) to a dict read through `codecs`.
    Which columns need decoding is worked out once per query, not once per row."""
    decoding = [(index, codecs[key].decode) for index, key in enumerate(keys) if key in codecs]
    if not decoding:
        return lambda row: dict(zip(keys, row, strict=True))

    def decode(row: tuple) -> dict[str, Any]:
        values = list(row)
        for index, read in decoding:
            if values[index] is not None:
                values[index] = read(values[index])
        return dict(zip(keys, values, strict=True))

    return decode
