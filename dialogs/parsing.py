"""Parsers for what borrowers type: one per kind of input. Each returns a value or raises
`InputError` carrying a message key (and parameters) the conversation renders in the
borrower's language, so the step can be shown again with what was expected.

Amounts accept what people write on a phone: `5000`, `5,000`, `5 000`, `¥5000`, `5000元`,
`5k`, `1.2万`, full-width digits `５０００`, and digits of other scripts (Python's `int` of a
Unicode digit). Negative, absurdly large, `NaN` and `1e999` are refused. Amounts are kept in
cents, rounded half up (`0.005` is `0.01`); where zero is refused, so is what rounds to zero.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MAX_AMOUNT = Decimal("100000000")  # 100 million: above this an amount is a typo
MAX_TEXT = 500
CENT = Decimal("0.01")


class InputError(Exception):
    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


_MULTIPLIERS = {"k": Decimal(1000), "千": Decimal(1000), "w": Decimal(10000), "万": Decimal(10000)}
_CURRENCY_NOISE = re.compile(r"(cny|rmb|yuan|元|块|圆|¥|￥|\$|usd)", re.IGNORECASE)
_AMOUNT = re.compile(r"^(?P<number>\d+(?:\.\d+)?)\s*(?P<unit>k|千|w|万)?$", re.IGNORECASE)


def normalise_digits(text: str) -> str:
    """NFKC folds full-width forms; other scripts' decimal digits become ASCII."""
    text = unicodedata.normalize("NFKC", text)
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() and not ch.isascii() else ch for ch in text)


def parse_amount(text: str, *, allow_zero: bool = True) -> Decimal:
    """A money amount; `allow_zero` is False where zero makes no sense (income)."""
    cleaned = normalise_digits(text).strip().lower()
    if cleaned.startswith("-") or cleaned.startswith("−"):
        raise InputError("error.amount_negative")
    cleaned = _CURRENCY_NOISE.sub("", cleaned)
    cleaned = re.sub(r"(?<=\d)[,\s'_](?=\d{3}\b)", "", cleaned).strip()
    match = _AMOUNT.match(cleaned)
    if not match:
        raise InputError("error.amount_format")
    try:
        value = Decimal(match["number"])
    except InvalidOperation:
        raise InputError("error.amount_format") from None
    unit = (match["unit"] or "").lower()
    value *= _MULTIPLIERS.get(unit, Decimal(1))
    if value > MAX_AMOUNT:
        raise InputError("error.amount_too_large", maximum=MAX_AMOUNT)
    value = value.quantize(CENT, rounding=ROUND_HALF_UP)  # kept in cents; 0.004 is zero
    if value == 0 and not allow_zero:
        raise InputError("error.amount_zero")
    return value


def parse_count(text: str, *, low: int, high: int) -> int:
    """A whole number between low and high (months, dependants)."""
    cleaned = normalise_digits(text).strip()
    cleaned = re.sub(r"\s*(个月|月|months?|个|人|people|persons?)$", "", cleaned, flags=re.IGNORECASE)
    if not re.fullmatch(r"\d{1,4}", cleaned):
        raise InputError("error.count_format", low=low, high=high)
    value = int(cleaned)
    if not low <= value <= high:
        raise InputError("error.count_range", low=low, high=high)
    return value


def parse_day_of_month(text: str, *, low: int, high: int) -> int:
    """A day of the month (a payday): `15`, `15th`, `the 15th`, `day 15`, `15号`, `15日`,
    `每月15号`; between `low` and `high` (the days the lender allows)."""
    cleaned = normalise_digits(text).strip().lower()
    cleaned = re.sub(r"^(every month on|each month on|the|day|每月|每个月)\s*", "", cleaned)
    cleaned = re.sub(r"\s*(st|nd|rd|th|号|日|of (each|every|the) month)$", "", cleaned)
    if not re.fullmatch(r"\d{1,2}", cleaned):
        raise InputError("error.day_format", low=low, high=high)
    value = int(cleaned)
    if not low <= value <= high:
        raise InputError("error.day_range", low=low, high=high)
    return value


def parse_months(text: str) -> list[int]:
    """Calendar months, e.g. `6,7,8`, `6-8`, `6、7、8月`, `jun jul`. Not all twelve."""
    cleaned = normalise_digits(text).lower()
    names = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    for number, name in enumerate(names, 1):
        cleaned = re.sub(rf"\b{name}[a-z]*\b", str(number), cleaned)
    cleaned = re.sub(r"[月,，、;；/\s]+", " ", cleaned).strip()
    months: set[int] = set()
    for part in cleaned.split():
        bounds = part.split("-")
        if not all(re.fullmatch(r"\d{1,2}", b) for b in bounds) or len(bounds) > 2:
            raise InputError("error.months_format")
        low, high = int(bounds[0]), int(bounds[-1])
        if not (1 <= low <= 12 and 1 <= high <= 12):
            raise InputError("error.months_format")
        months.update(range(low, high + 1) if low <= high else [*range(low, 13), *range(1, high + 1)])
    if not months or len(months) > 11:
        raise InputError("error.months_format")
    return sorted(months)


def parse_text(text: str) -> str:
    """A short free sentence: control characters dropped, length capped."""
    cleaned = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\n").strip()
    if not cleaned:
        raise InputError("error.text_empty")
    if len(cleaned) > MAX_TEXT:
        raise InputError("error.text_too_long", maximum=MAX_TEXT)
    return cleaned


def parse_loan_number(text: str) -> str:
    cleaned = normalise_digits(text).strip().upper()
    if not re.fullmatch(r"[A-Z0-9][A-Z0-9_-]{0,63}", cleaned):
        raise InputError("error.loan_number_format")
    return cleaned


def parse_id_last4(text: str) -> str:
    cleaned = normalise_digits(text).strip().upper()
    if not re.fullmatch(r"[0-9]{3}[0-9X]", cleaned):
        raise InputError("error.id_last4_format")
    return cleaned


def parse_day(text: str, *, today: date, max_days_back: int = 90) -> date:
    """A recent day: `2026-11-20`, `2026/11/20`, `11-20`, `11月20日`, `today`/`今天`,
    `yesterday`/`昨天`. Not in the future, not more than `max_days_back` days ago."""
    cleaned = normalise_digits(text).strip().lower()
    relative = {"today": 0, "今天": 0, "yesterday": 1, "昨天": 1}
    if cleaned in relative:
        return today - timedelta(days=relative[cleaned])
    match = re.fullmatch(r"(?:(\d{4})\s*[-/.年]\s*)?(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?", cleaned)
    if not match:
        raise InputError("error.date_format")
    year = int(match[1]) if match[1] else today.year
    try:
        day = date(year, int(match[2]), int(match[3]))
    except ValueError:
        raise InputError("error.date_format") from None
    if not match[1] and day > today:
        try:
            day = day.replace(year=year - 1)
        except ValueError:  # 29 February ahead in a leap year: last year had none
            raise InputError("error.date_range", days=max_days_back) from None
    if day > today or (today - day).days > max_days_back:
        raise InputError("error.date_range", days=max_days_back)
    return day
