"""The lender's Chinese texts (broadcasts, the files a borrower keeps) follow the house rules
of /work/shared/reference/zh-review.md: full-width punctuation next to Chinese, and no space
between two Chinese characters, also where a date (ending in 日) meets the text after it."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from decimal import Decimal

import pytest

from bot.i18n import Translator, plain_text
from paths import LOCALES

ZH_CN = LOCALES / "zh_CN"
CJK = "\u4e00-\u9fff"
HALF_WIDTH_NEXT_TO_CJK = re.compile(f"[{CJK}][,:;?!()]|[,:;?!()][{CJK}]")
SPACE_BETWEEN_CJK = re.compile(f"[{CJK}] +[{CJK}]")
TEMPLATE_SYNTAX = re.compile(r"{{.*?}}|{%.*?%}|<[^>]+>", re.S)


def texts(name: str) -> dict[str, str]:
    with (ZH_CN / name).open("rb") as handle:
        return {key: value for key, value in _flat(tomllib.load(handle)).items()}


def _flat(table: dict, prefix: str = "") -> dict[str, str]:
    flat = {}
    for key, value in table.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


@pytest.mark.parametrize("name", ["broadcasts.toml", "files.toml"])
def test_punctuation_next_to_chinese_is_full_width(name):
    bad = {key: HALF_WIDTH_NEXT_TO_CJK.findall(TEMPLATE_SYNTAX.sub("", text)) for key, text in texts(name).items()}
    assert {key: found for key, found in bad.items() if found} == {}


@pytest.mark.parametrize("days", [0, 1, 3])
def test_a_rendered_reminder_has_no_space_between_chinese_and_the_day_sits_by_its_date(days):
    text = plain_text(
        Translator().render(
            "zh_CN",
            "broadcast.payment_due_soon",
            amount_due=Decimal("1234.5"),
            currency="CNY",
            due_date=date(2026, 12, 5),
            days_left=days,
        )
    )
    assert not SPACE_BETWEEN_CJK.search(text), text
    relative = {0: "今天", 1: "明天", 3: "3 天后"}[days]
    assert f"将于{relative}（2026年12月5日）到期" in text.replace("将于 ", "将于")


@pytest.mark.parametrize("key", ["file.chart.next", "file.saved.chart"])
def test_file_texts_read_naturally(key):
    text = Translator().render(
        "zh_CN", key, amount=Decimal("800.5"), currency="CNY", due=date(2027, 2, 5), path="/tmp/plan-1.png"
    )
    assert not SPACE_BETWEEN_CJK.search(text) and not HALF_WIDTH_NEXT_TO_CJK.search(text), text
