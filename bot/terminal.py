"""Text safe to show: what a terminal (or a chat) would act on rather than display.

A name or a message typed by someone else can carry ESC (the start of a terminal escape
sequence: it can clear the screen, retitle the window or fake other output), other C0/C1
control characters, line separators, or bidirectional-text controls that reorder the text
around them. Imports refuse them in names (`control_character`); everything the CLI prints
from the database goes through `printable`, which shows them as `\\u001b` instead, and a value
an error message quotes goes through `shown`.
"""

from __future__ import annotations

import re
from typing import Any

SHOWN_CHARS = 40  # of a value quoted in an error message
#: C0 and C1 control characters, line and paragraph separators, bidirectional-text controls.
CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_KEPT = "\n\t"


def control_character(text: str) -> str | None:
    """The first of `CONTROL_CHARACTERS` in `text`, as `U+XXXX`, or None."""
    found = CONTROL_CHARACTERS.search(text)
    return f"U+{ord(found[0]):04X}" if found else None


def printable(text: str) -> str:
    """`text` with every control character but newline and tab written as `\\uXXXX` (also a
    valid escape inside a JSON string, so JSON output stays JSON)."""
    return CONTROL_CHARACTERS.sub(lambda m: m[0] if m[0] in _KEPT else f"\\u{ord(m[0]):04x}", text)


def shown(value: Any) -> str:
    """A value as an error message quotes it: repr (so control characters and escape
    sequences appear as `\\x1b`, never raw), cut to SHOWN_CHARS."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 4] + "...'"
