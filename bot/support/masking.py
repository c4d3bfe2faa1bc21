"""Masking personal data for support staff: the one place that decides what an agent sees by
default, in transcripts, the web console, the support group and exports.

* ``mask_text(text, names=())`` hides, inside free text,

  - e-mail addresses: the first character of the name and of each domain label but the last
    stay (``emma.li@example.com`` -> ``e******@e******.com``);
  - numbers however they are written: digit groups joined by spaces, dashes, dots, slashes,
    underscores or middle dots (full-width forms too, and brackets around a group) are read
    as ONE number, so ``138.0013.8000``, ``138/0013/8000``, ``110101-1990-0307-1234`` and
    ``4242.4242.4242.4242`` are caught like ``13800138000``.  A number is personal data
    when it has 9 or more digits (phone, ID, card and account numbers); its digits are masked
    except the last 4 characters (a final ``X`` of an ID number counts), separators stay, so
    the shape is still recognisable.  An international number (``+86 138 0013 8000``) keeps
    its country code (found with `phonenumbers`).

  ``names`` are the borrower's names to hide as well (each occurrence becomes ``mask_name``'s
  result).
* ``mask_name(name)`` keeps the first character of each word: ``王小明`` -> ``王**``,
  ``Emma Li`` -> ``E*** L*``.
* ``mask_phone(phone)`` is ``mask_text`` for a value known to be a phone number.

Groups joined only by SPACES are ambiguous - ``500 250 1000`` is three amounts,
``13800 138000`` one phone number - so they are one number only when the digits together look
like a phone number (a Chinese mobile, with or without 86/0086; a number starting with 0 and
10-12 digits long) or have 13 or more digits (cards, ID numbers); otherwise each group is
judged alone.  Dates at either end (``2026-11-28 13800138000``) are judged apart from the rest.

What is deliberately NOT masked: amounts (``5000``, ``12,345.50``, ``¥1,234.50``,
``12345678.90``: at most 8 digits before a decimal point), dates and times (``2026-11-28``,
``2026/11/28 09:30``, ``20261128``), short numbers, loan numbers (``CC-1001``), the
already-masked ``[contact ***8000]``.  A comma next to a digit run marks it as part of an
amount.  The price, erring on the side of hiding: a list of amounts with 13 or more digits in
all (``3000 2000 1500 8000``), or amounts joined by dashes or slashes (``3000/2000/1500``), is
masked like a card number.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

import phonenumbers

__all__ = ["MASK", "mask_name", "mask_phone", "mask_text"]

MASK = "*"
KEEP = 4
PERSONAL_DIGITS = 9  # a number with this many digits or more is personal data
JOINED_BY_SPACES = 13  # ... when its groups are joined only by spaces (unless it looks like a phone number)

_SPACE = "[ \t\u00a0\u3000]"
_MARK = "[-\u2010\u2011\u2013\u2014\uff0d./\uff0e\uff0f_\u00b7]"
_GAP = rf"(?:{_SPACE}{{1,2}}|{_SPACE}?{_MARK}{_SPACE}?)"
_GROUP = r"[(\uff08]?\d+[)\uff09]?"
#: A number as typed: an optional +, digit groups joined by gaps, and an ID number's final X.
#: Atomic, so a number that fails the boundary checks is not matched in parts.  It must not
#: touch a digit, an amount's ``,5``, or a masked character on either side.
_NUMBER = re.compile(
    rf"(?<![\d{MASK}])(?<!\d,)(?>\+?{_GROUP}(?:{_GAP}{_GROUP})*(?:{_GAP}?[Xx](?![A-Za-z\d]))?)(?!\d)(?!,\d)"
)
_WHITESPACE_GAP = re.compile(rf"({_SPACE}{{1,2}})")
_JOINED = re.compile(r"\d+")  # a group with nothing but digits: joined to others by spaces only
_DATE = re.compile(r"(?:19\d\d|20\d\d|2100)([-/.\uff0d\uff0f\uff0e])(?:0?[1-9]|1[0-2])\1(?:0?[1-9]|[12]\d|3[01])")
_AMOUNT = re.compile(r"\d{1,8}[.\uff0e]\d{1,2}")
_PHONE_DIGITS = re.compile(r"(?:0{0,2}86)?1[3-9]\d{9}|0\d{9,11}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def _digits(token: str) -> str:
    """The token's digits as ASCII (full-width and other decimal digits included)."""
    return "".join(str(unicodedata.digit(ch)) for ch in token if ch.isdigit())


def _country_code_digits(candidate: str) -> int:
    """How many leading digits of an international number are its country code."""
    try:
        number = phonenumbers.parse(candidate, None)
    except phonenumbers.NumberParseException:
        return 0
    return len(str(number.country_code)) if number.country_code else 0


def _mask_characters(token: str, keep_leading: int = 0) -> str:
    """Replace digits and a trailing X with MASK, except `keep_leading` leading digits and the
    last KEEP characters; separators stay."""
    positions = [i for i, ch in enumerate(token) if ch.isdigit() or ch in "Xx"]
    hidden = set(positions[keep_leading : max(keep_leading, len(positions) - KEEP)])
    return "".join(MASK if i in hidden else ch for i, ch in enumerate(token))


def _mask_piece(piece: str) -> str:
    """A number with no spaces inside: masked if it has enough digits and is no date or amount."""
    if len(_digits(piece)) < PERSONAL_DIGITS or _DATE.fullmatch(piece) or _AMOUNT.fullmatch(piece):
        return piece
    return _mask_characters(piece)


def _mask_token(token: str) -> str:
    """One number as typed (see the module docstring for how its groups are judged)."""
    digits = _digits(token)
    if token[-1] in "Xx" and len(digits) != 17:  # an X ends only an ID number (17 digits + X)
        return _mask_number_text(token[:-1]) + token[-1]
    if token.startswith("+"):
        if len(digits) < 7:
            return token  # "+86" alone, a "+3" in an argument, an offset like "+08"
        return _mask_characters(token, _country_code_digits(token))
    parts = _WHITESPACE_GAP.split(token)  # pieces, and the spaces between them
    pieces = parts[0::2]
    if len(pieces) == 1:
        return _mask_piece(token)
    if not _PHONE_DIGITS.fullmatch(digits):
        if _DATE.fullmatch(pieces[0]):  # a date, then the rest on its own
            return parts[0] + parts[1] + _mask_token("".join(parts[2:]))
        if _DATE.fullmatch(pieces[-1]):
            return _mask_token("".join(parts[:-2])) + parts[-2] + parts[-1]
    spaces_only = all(_JOINED.fullmatch(piece) for piece in pieces)
    if spaces_only and len(digits) < JOINED_BY_SPACES and not _PHONE_DIGITS.fullmatch(digits):
        return "".join(part if i % 2 else _mask_piece(part) for i, part in enumerate(parts))
    return _mask_characters(token) if len(digits) >= PERSONAL_DIGITS else token


def _mask_number(match: re.Match[str]) -> str:
    return _mask_token(match.group(0))


def _mask_number_text(text: str) -> str:
    return _NUMBER.sub(_mask_number, text)


def _mask_email(match: re.Match[str]) -> str:
    local, _, domain = match.group(0).partition("@")
    labels = domain.split(".")
    hidden = [label[0] + MASK * (len(label) - 1) for label in labels[:-1]] + labels[-1:]
    return local[0] + MASK * (len(local) - 1) + "@" + ".".join(hidden)


def mask_name(name: str | None) -> str:
    """Every word's first character, the rest masked: ``王**``, ``E*** L*``."""
    if not name:
        return ""
    return " ".join(word[0] + MASK * (len(word) - 1) for word in name.split())


def _name_variants(names: Iterable[str | None]) -> list[str]:
    """What to find, longest first: each full name, then its parts of 2 characters or more
    (a Latin name's words; a Chinese name's given name, i.e. all but the first character)."""
    variants: set[str] = set()
    for name in names:
        if not name or not name.strip():
            continue
        name = " ".join(name.split())
        variants.add(name)
        words = name.split()
        if len(words) > 1:
            variants.update(word for word in words if len(word) >= 2)
        elif len(name) >= 3 and not name.isascii():
            variants.add(name[1:])
    return sorted(variants, key=lambda found: (-len(found), found))


def _mask_names(text: str, names: Iterable[str | None]) -> str:
    variants = _name_variants(names)
    if not variants:
        return text
    full = {v.casefold() for v in variants}
    pattern = "|".join(
        # Latin words only as whole words ("Li" must not hit "Limit"); CJK anywhere
        rf"(?<![A-Za-z]){re.escape(found)}(?![A-Za-z])" if found.isascii() else re.escape(found)
        for found in variants
    )

    def replace(match: re.Match[str]) -> str:
        found = match.group(0)
        # a Chinese given name alone keeps nothing: its first character is not the surname's
        if (
            not found.isascii()
            and " " not in found
            and found.casefold() in full
            and any(len(v) > len(found) and v.endswith(found) for v in variants)
        ):
            return MASK * len(found)
        return mask_name(found)

    return re.sub(pattern, replace, text, flags=re.IGNORECASE)


def mask_text(text: str | None, names: Iterable[str | None] = ()) -> str:
    """`text` with e-mail addresses, personal numbers (all but the last 4 characters) and the
    given names masked.  Idempotent, and never changes the length."""
    if not text:
        return ""
    return _mask_number_text(_EMAIL.sub(_mask_email, _mask_names(text, names)))


def mask_phone(phone: str | None) -> str:
    """A phone number known to be one (e.g. the stored E.164): ``+86*******8000``."""
    if not phone:
        return ""
    masked = mask_text(phone)
    if masked == phone:  # too short or oddly written: hide all but the last 4 anyway
        return _mask_characters(phone)
    return masked
