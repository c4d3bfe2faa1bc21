"""bot.support.masking: ID, card and phone numbers keep only their last 4 characters; names keep their
first letter per word; amounts, dates and loan numbers are left alone."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from babel.numbers import format_currency, format_decimal
from hypothesis import given
from hypothesis import strategies as st

from bot.support.masking import mask_name, mask_phone, mask_text


@pytest.mark.parametrize(
    "text, expected",
    [
        # Chinese resident ID numbers
        ("110101199003071234", "**************1234"),
        ("11010119900307123X", "**************123X"),
        ("11010119900307123x", "**************123x"),
        ("110101 19900307 123X", "****** ******** 123X"),
        ("110101-19900307-1234", "******-********-1234"),
        ("身份证110101199003071234。", "身份证**************1234。"),
        ("ID:110101199003071234,", "ID:**************1234,"),
        # phone numbers
        ("+8613800138000", "+86*******8000"),
        ("call +86 138 0013 8000.", "call +86 *** **** 8000."),
        ("+86-138-0013-8000", "+86-***-****-8000"),
        ("+1 (555) 123-4567", "+1 (***) ***-4567"),
        ("+44 7700 900123", "+44 **** **0123"),
        ("13800138000", "*******8000"),
        ("138 0013 8000", "*** **** 8000"),
        ("138-0013-8000", "***-****-8000"),
        ("0086 138 0013 8000", "**** *** **** 8000"),
        ("(010) 1234 5678", "(***) **** 5678"),
        ("010-12345678", "***-****5678"),
        ("0755-1234-5678", "****-****-5678"),
        ("555-123-4567", "***-***-4567"),
        ("(555) 123-4567", "(***) ***-4567"),
        ("手机13800138000谢谢", "手机*******8000谢谢"),
        # bank cards
        ("4242424242424242", "************4242"),
        ("4242 4242 4242 4242", "**** **** **** 4242"),
        ("4242-4242-4242-4242", "****-****-****-4242"),
        ("6222 0212 3456 7890 123", "**** **** **** ***0 123"),
        ("3782 822463 10005", "**** ****** *0005"),
        ("4222222222222", "*********2222"),
        ("card 6222021234567890123 ok", "card ***************0123 ok"),
        # several in one text
        ("phone 13800138000, id 11010119900307123X",
         "phone *******8000, id **************123X"),
    ],
)
def test_personal_numbers_keep_only_the_last_four(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "5000", "12,345.50", "¥1,234.50", "CN¥8,270.30", "−CN¥5,200.00", "1,234,567,890.00",
        "13800138000.50",  # a decimal point makes it an amount, however long
        "I can pay 3000 a month", "pay 3000 2000 1500 800", "500 250 1000",
        "2026-11-28", "2026/11/28", "2026.11.28", "20261128", "2026年11月28日", "Jan 5, 2027",
        "2026-11-28 09:30", "2026-11-28T09:30:00.000000+00:00", "09:30:15",
        "CC-1001", "AL-3003", "[button 18:choose:step_up-13]", "[contact ***8000]",
        "Reference: #1", "13 payments", "APR 6.00%", "12345678", "+86", "+3 months",
        "", "no digits at all",
    ],
)
def test_amounts_dates_and_references_are_not_masked(text):
    assert mask_text(text) == text


def test_masking_is_idempotent_and_never_lengthens():
    text = "Tel +86 138 0013 8000, card 4242 4242 4242 4242, ID 11010119900307123X, paid 5,000.00"
    once = mask_text(text)
    assert mask_text(once) == once
    assert len(once) == len(text)
    assert "0013" not in once and "11010119900307" not in once


def test_a_date_next_to_a_phone_number():
    assert mask_text("2026-11-28 13800138000") == "2026-11-28 *******8000"
    assert mask_text("13800138000 2026-11-28") == "*******8000 2026-11-28"


@pytest.mark.parametrize(
    "name, expected",
    [("王小明", "王**"), ("Emma Li", "E*** L*"), ("张伟", "张*"), ("A", "A"), ("  Emma   Li ", "E*** L*"),
     ("", ""), (None, "")],
)
def test_mask_name(name, expected):
    assert mask_name(name) == expected


def test_known_names_are_masked_inside_texts():
    text = "Hello, Emma Li! Emma, your limit. EMMA LI"
    assert mask_text(text, ["Emma Li"]) == "Hello, E*** L*! E***, your limit. E*** L*"
    assert mask_text("您好，王小明。小明，王先生", ["王小明"]) == "您好，王**。**，王先生"
    assert mask_text("Hello", [None, ""]) == "Hello"


def test_mask_phone():
    assert mask_phone("+8613800138000") == "+86*******8000"
    assert mask_phone("+12025550123") == "+1******0123"
    assert mask_phone("12345") == "*2345"
    assert mask_phone(None) == ""


amounts = st.decimals(min_value=0, max_value=Decimal("99999999.99"), places=2, allow_nan=False)


@given(amounts, st.sampled_from(["en", "zh_CN"]))
def test_formatted_amounts_are_never_masked(amount, locale):
    for text in (format_currency(amount, "CNY", locale=locale), format_decimal(amount, locale=locale),
                 f"{amount:.2f}", str(int(amount))):
        assert mask_text(text) == text


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)),
       st.integers(min_value=0, max_value=86399))
def test_dates_and_times_are_never_masked(day, seconds):
    moment = datetime.combine(day, datetime.min.time(), timezone.utc) + timedelta(seconds=seconds)
    for text in (day.isoformat(), day.strftime("%Y/%m/%d"), day.strftime("%Y%m%d"),
                 moment.isoformat(), moment.strftime("%Y-%m-%d %H:%M:%S")):
        assert mask_text(text) == text


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_every_chinese_mobile_number_is_masked(number):
    assert mask_text(f"my number is {number}") == f"my number is *******{number[-4:]}"
