"""Masking personal data for support staff: transcripts, the web console and exports.

One place decides what a support agent sees by default:

* ``mask_text(text, names=())`` hides, inside free text, every

  - Chinese resident ID number: 18 characters, the last one a digit or ``X``
    (``110101199003071234`` -> ``**************1234``), also written 6-8-4 with spaces/dashes;
  - bank card number: 13-19 digits, contiguous or in the usual 4-4-4-4(-3) / 4-6-5 groups
    (``4242 4242 4242 4242`` -> ``**** **** **** 4242``);
  - phone number: international with ``+`` (``+8613800138000`` -> ``+86*******8000``: the
    country code stays, found with `phonenumbers`), Chinese mobiles ``138 0013 8000`` and
    landlines ``(010) 1234 5678`` / ``0755-1234-5678``, ``555-123-4567``;
  - any other run of 9 or more contiguous digits (account numbers and the like);

  keeping only the last 4 characters; spaces, dashes, brackets and ``+`` stay where they were,
  so the shape is still recognisable.  ``names`` are the borrower's names to hide as well
  (each occurrence becomes ``mask_name``'s result).
* ``mask_name(name)`` keeps the first character of each word: ``王小明`` -> ``王**``,
  ``Emma Li`` -> ``E*** L*``.
* ``mask_phone(phone)`` is ``mask_text`` for a value known to be a phone number.

What is deliberately NOT masked: amounts (``5000``, ``12,345.50``, ``¥1,234.50``), dates and
times (``2026-11-28``, ``2026/11/28 09:30``, ``20261128``), short numbers, loan numbers
(``CC-1001``), the already-masked ``[contact ***8000]``.  A number of up to 8 digits is
never masked unless it is grouped like a phone number; a comma or a decimal point next to a
digit run marks it as an amount.  The price of grouped shapes: four amounts typed as
``3000 2000 1500 8000`` look exactly like a card number and are masked - erring on the side of
hiding.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

import phonenumbers

__all__ = ["mask_name", "mask_phone", "mask_text", "MASK"]

MASK = "*"
KEEP = 4

_SEP = r"[ \-]"
#: Candidates, most specific first.  Each is a whole token: no digit (nor an amount's
#: ``,5``/``.5``) may touch it on either side, so part of a longer number is never matched.
_CANDIDATES = "|".join(
    f"(?:{pattern})"
    for pattern in (
        # ID number, contiguous or 6-8-4
        r"\d{17}[\dXx]",
        rf"\d{{6}}{_SEP}\d{{8}}{_SEP}\d{{3}}[\dXx]",
        # international phone: +CC and groups (the country code is kept, see _mask_match)
        rf"\+\d{{1,3}}(?:{_SEP}?\(\d{{1,4}}\))?(?:{_SEP}?\d{{1,6}}){{1,5}}",
        # card numbers in groups
        rf"\d{{4}}(?:{_SEP}\d{{4}}){{3}}(?:{_SEP}\d{{1,3}})?",
        rf"\d{{4}}{_SEP}\d{{6}}{_SEP}\d{{4,5}}",
        # Chinese mobile 3-4-4, optionally after 86 / 0086
        rf"(?:0{{0,2}}86{_SEP}?)?1[3-9]\d{_SEP}?\d{{4}}{_SEP}?\d{{4}}",
        # landline with area code: (010) 1234 5678, 010-12345678, 0755-1234-5678
        rf"\(0\d{{2,3}}\){_SEP}?\d{{3,4}}{_SEP}?\d{{4}}",
        rf"0\d{{2,3}}{_SEP}(?:\d{{7,8}}|\d{{3,4}}{_SEP}\d{{4}})",
        # North-American style 555-123-4567 / (555) 123-4567 (dashes or brackets required:
        # "500 250 1000" is three amounts)
        r"\(\d{3}\) ?\d{3}-\d{4}",
        r"\d{3}-\d{3}-\d{4}",
        # anything else long: card numbers, account numbers, phone numbers without format
        r"\d{9,}",
    )
)
_PII = re.compile(rf"(?<![\d])(?<!\d[.,])(?:{_CANDIDATES})(?![\d])(?![.,]\d)")


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


def _mask_match(match: re.Match[str]) -> str:
    token = match.group(0)
    keep = _country_code_digits(token) if token.startswith("+") else 0
    digits = sum(ch.isdigit() for ch in token)
    if token.startswith("+") and digits < 7:
        return token  # "+86" alone, a "+3" in an argument, an offset like "+08"
    return _mask_characters(token, keep)


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
        if not found.isascii() and " " not in found and found.casefold() in full and \
                any(len(v) > len(found) and v.endswith(found) for v in variants):
            return MASK * len(found)
        return mask_name(found)

    return re.sub(pattern, replace, text, flags=re.IGNORECASE)


def mask_text(text: str | None, names: Iterable[str | None] = ()) -> str:
    """`text` with ID, card and phone numbers (all but the last 4 characters) and the given
    names masked.  Idempotent: masking masked text changes nothing."""
    if not text:
        return ""
    return _PII.sub(_mask_match, _mask_names(text, names))


def mask_phone(phone: str | None) -> str:
    """A phone number known to be one (e.g. the stored E.164): ``+86*******8000``."""
    if not phone:
        return ""
    masked = mask_text(phone)
    if masked == phone:  # too short or oddly written: hide all but the last 4 anyway
        return _mask_characters(phone)
    return masked
