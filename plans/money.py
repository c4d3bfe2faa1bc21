"""Money arithmetic: Decimal only, built from strings or ints, quantized in one place.

Amounts never pass through float. `to_decimal` refuses floats (0.1 is not 0.1), and
`quantize` is the single place where an amount is rounded to its currency's minor unit
(CNY and USD 2 places, JPY 0), with a named rounding mode. Formatting for people lives in the
locales layer (Babel), not here.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache

from babel.numbers import get_currency_precision

ZERO = Decimal(0)


def to_decimal(value: object, *, field: str = "amount") -> Decimal:
    """Convert str/int/Decimal to a finite Decimal; refuse floats, bools and garbage."""
    from plans.errors import CaseError

    if isinstance(value, bool) or isinstance(value, float):
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


def quantize(amount: Decimal, currency: str, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round to the currency's minor unit. The one place amounts are rounded."""
    return amount.quantize(minor_unit(currency), rounding=rounding)


def round_places(value: Decimal, places: int, rounding: str = ROUND_HALF_UP) -> Decimal:
    """Round a figure that is not an amount of money (a percentage, an average term) to
    `places` decimals; amounts go through `quantize`."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=rounding)
