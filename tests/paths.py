"""Where the repository's own files are, for tests that read them (the README, the locales, test
data): one place, so no test works its way up from its own `__file__`."""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
DATA = TESTS / "data"
README = ROOT / "README.md"
LOCALES = ROOT / "locales"
