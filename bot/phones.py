"""Phone numbers: E.164 (`+8613800138000`) from the ways people and lenders' files write them.

Two strictnesses: `valid_phone` for what is stored (the lender's file: a number must be in a
range allocated to phones, so the same borrower is recognised however the number was typed,
and `12345` is refused), `normalise_phone` for what is compared with it (a number Telegram
shares, or one typed in the terminal: it must only be *possible*).
"""

from __future__ import annotations

import functools
import re

import phonenumbers

from bot.terminal import shown


def _parse_phone(raw: str, region: str) -> phonenumbers.PhoneNumber | None:
    try:
        return phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None


def normalise_phone(raw: str, region: str = "CN") -> str:
    """E.164 (`+8613800138000`) from any common way of writing a number; ValueError if none.

    A number without a country code is read as one of `region`. This only asks that the
    number be *possible* (the right length for its country): it matches a number Telegram
    shares against what is stored. What is stored is checked harder, by `valid_phone`.
    """
    number = _parse_phone(raw, region)
    if number is None or not phonenumbers.is_possible_number(number):
        raise ValueError(f"not a valid phone number {shown(raw)}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


#: A Chinese mobile number as most lenders' files hold it (`13800138000`, `+86 138 0013 8000`,
#: `138-0013-8000`). phonenumbers' general parser costs ~15 microseconds a number, a third
#: of a whole row's checks; for these forms its result is known without it: country 86 and
#: the 11 digits as the national number (nothing to strip: CN's carrier and dialling
#: prefixes start 0, 11, 12 or 179, and those take the general path). And a number that
#: matches CN's general and mobile patterns (as phonenumbers matches them: possible length,
#: then the whole pattern) is valid without trying the other kinds of number first; any
#: other is asked of `is_valid_number`. tests/test_imports_streaming.py holds this path to
#: phonenumbers' own answers.
_CN_MOBILE = re.compile(r"(\+86)?(1(?:[3-68-9][0-9]|7[0-8])[0-9]{8})")
_SPACES_AND_DASHES = str.maketrans("", "", " -")


def _cn_patterns() -> list[tuple[re.Pattern[str], tuple[int, ...]]]:
    metadata = phonenumbers.PhoneMetadata.metadata_for_region("CN")
    assert metadata is not None and metadata.general_desc is not None and metadata.mobile is not None
    return [
        (re.compile(desc.national_number_pattern or ""), tuple(desc.possible_length or ()))
        for desc in (metadata.general_desc, metadata.mobile)
    ]


_CN_PATTERNS = _cn_patterns()


def _valid_cn(national: str) -> bool:
    if all(
        (not lengths or len(national) in lengths) and pattern.fullmatch(national) for pattern, lengths in _CN_PATTERNS
    ):
        return True
    return phonenumbers.is_valid_number(phonenumbers.PhoneNumber(country_code=86, national_number=int(national)))


@functools.lru_cache(maxsize=4096)  # a borrower with several loans is on several rows
def valid_phone(raw: str, region: str) -> str:
    """E.164 of a number that is *valid* for its country (in a range allocated to phones,
    per the phonenumbers library): `12345` or `+86 12345` is refused, not stored as
    `+8612345`. ValueError if not."""
    mobile = _CN_MOBILE.fullmatch(raw.translate(_SPACES_AND_DASHES))
    if mobile and (mobile[1] or region == "CN"):
        if _valid_cn(mobile[2]):
            return "+86" + mobile[2]
        raise ValueError(f"not a valid phone number {shown(raw)}")
    number = _parse_phone(raw, region)
    if number is None or not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid phone number {shown(raw)}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
