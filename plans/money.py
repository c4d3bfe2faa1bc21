"""Money arithmetic: Decimal only, built from strings or ints, rounded in one place.

Amounts never pass through float. `to_decimal` refuses floats (0.1 is not 0.1). Every rounding
in the engine goes through this module, its rounding mode named where it is not the default
half-up:

- `quantize`: an amount to its currency's minor unit (CNY and USD 2 places, JPY 0);
- `round_to_unit`: the same for a loop that rounds many amounts of one currency (it looks the
  `minor_unit` up once and passes it);
- `round_places`: a figure that is not an amount (a rate, a ratio, a likelihood) to a number of
  decimal places.

Formatting for people lives in the locales layer (Babel), not here.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import get_currency_precision

ZERO = Decimal(0)
ONE = Decimal(1)
#: a ratio or a likelihood (an affordability ratio, a step ratio) is stated to 4 places
RATIO_PLACES = 4


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Convert str/int/Decimal to a finite Decimal; refuse floats, bools and garbage."""
    from plans.errors import CaseError

    if isinstance(value, bool | float):
        raise CaseError("must be given as a string or integer, not a float", field=field)
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise CaseError(f"is not a number: {value!r}", field=field) from None
    if not result.is_finite():
        raise CaseError("must be a finite number", field=field)
    return result


@lru_cache(maxsize=64)
def minor_unit(currency: str) -> Decimal:
    """The smallest amount of a currency: Decimal('0.01') for CNY, Decimal('1') for JPY."""
    return Decimal(1).scaleb(-get_currency_precision(currency))


def in_minor_units(amount: Decimal, currency: str) -> bool:
    """Whether a finite amount is payable as it stands: no finer than the currency's minor unit.
    (Only an amount written with more places than its currency has, such as 1.500 yuan or 2.0
    yen, needs normalising to tell; an exponent is a letter only for NaN and infinities, which
    are never amounts.) Most amounts are told by their text, `12345.67`, whose places after
    the point are the exponent (unless it is in E notation); that is several times quicker
    than `as_tuple`, and a loan file checks six amounts a row, a million rows at a time."""
    unit_exponent = _unit_exponent(currency)
    text = str(amount)
    if text[-1].isdigit() and "E" not in text:
        point = text.find(".")
        if point < 0 or point - len(text) + 1 >= unit_exponent:
            return True
    # Otherwise from the digits, trailing zeros dropped (`normalize` would first round to the
    # context's 28 digits and call 10000000000000000000000000.001 payable).
    _, digits, exponent = amount.as_tuple()
    if not isinstance(exponent, int):
        return False
    significant = len(digits)
    while significant and digits[significant - 1] == 0:
        significant -= 1
    return not significant or exponent + len(digits) - significant >= unit_exponent


@lru_cache(maxsize=64)
def minor_places(currency: str) -> int:
    """Decimal places of a currency's minor unit: 2 for CNY and USD, 0 for JPY."""
    return int(get_currency_precision(currency))


def _unit_exponent(currency: str) -> int:
    return -minor_places(currency)


def round_to_unit(amount: Decimal, unit: Decimal, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round to `unit`, a currency's `minor_unit`: `quantize` for a loop that rounds many
    amounts of one currency and looks its unit up once."""
    return amount.quantize(unit, rounding)


def quantize(amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round an amount to its currency's minor unit."""
    return round_to_unit(amount, minor_unit(currency), rounding)


def round_places(value: Decimal, places: int, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round a figure that is not an amount of money (a rate, a ratio, an average term) to
    `places` decimals; amounts go through `quantize`."""
    return value.quantize(_places(places), rounding)


@lru_cache(maxsize=16)
def _places(places: int) -> Decimal:
    """Decimal('1e-places'): the step `round_places` rounds to."""
    return Decimal(1).scaleb(-places)
