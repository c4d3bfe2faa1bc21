"""bot.support.masking: ID, card and phone numbers keep only their last 4 characters; names keep their
first letter per word; amounts, dates and loan numbers are left alone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
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
        ("phone 13800138000, id 11010119900307123X", "phone *******8000, id **************123X"),
    ],
)
def test_personal_numbers_keep_only_the_last_four(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "5000",
        "12,345.50",
        "¥1,234.50",
        "CN¥8,270.30",
        "−CN¥5,200.00",
        "1,234,567,890.00",
        "12345678.90",
        "I paid 1500.50",
        "on 2026-11-28 500",
        "I can pay 3000 a month",
        "pay 3000 2000 1500",
        "500 250 1000",
        "2026-11-28",
        "2026/11/28",
        "2026.11.28",
        "20261128",
        "2026年11月28日",
        "Jan 5, 2027",
        "2026-11-28 09:30",
        "2026-11-28T09:30:00.000000+00:00",
        "09:30:15",
        "CC-1001",
        "AL-3003",
        "[button 18:choose:step_up-13]",
        "[contact ***8000]",
        "Reference: #1",
        "13 payments",
        "APR 6.00%",
        "12345678",
        "+86",
        "+3 months",
        "",
        "no digits at all",
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
    [
        ("王小明", "王**"),
        ("Emma Li", "E*** L*"),
        ("张伟", "张*"),
        ("A", "A"),
        ("  Emma   Li ", "E*** L*"),
        ("", ""),
        (None, ""),
    ],
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
    for text in (
        format_currency(amount, "CNY", locale=locale),
        format_decimal(amount, locale=locale),
        f"{amount:.2f}",
        str(int(amount)),
    ):
        assert mask_text(text) == text


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)), st.integers(min_value=0, max_value=86399))
def test_dates_and_times_are_never_masked(day, seconds):
    moment = datetime.combine(day, datetime.min.time(), UTC) + timedelta(seconds=seconds)
    for text in (
        day.isoformat(),
        day.strftime("%Y/%m/%d"),
        day.strftime("%Y%m%d"),
        moment.isoformat(),
        moment.strftime("%Y-%m-%d %H:%M:%S"),
    ):
        assert mask_text(text) == text


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_every_chinese_mobile_number_is_masked(number):
    assert mask_text(f"my number is {number}") == f"my number is *******{number[-4:]}"


# ------------------------------------------------------------------ numbers however they are written


@pytest.mark.parametrize(
    "text, expected",
    [
        ("138.0013.8000", "***.****.8000"),
        ("138/0013/8000", "***/****/8000"),
        ("13800 138000", "***** **8000"),
        ("138_0013_8000", "***_****_8000"),
        ("138 - 0013 - 8000", "*** - **** - 8000"),
        ("１３８００１３８０００", "*******８０００"),  # full-width digits, as a Chinese keyboard may type them
        ("138－0013－8000", "***－****－8000"),
        ("4242.4242.4242.4242", "****.****.****.4242"),
        ("6222.0212.3456.7890.123", "****.****.****.***0.123"),
        ("110101-1990-0307-1234", "******-****-****-1234"),
        ("110101.19900307.123X", "******.********.123X"),
        ("1101011990030712 3X", "**************12 3X"),
        ("(555) 123 4567", "(***) *** 4567"),
        # more than 8 digits before a decimal point is no amount anyone types
        ("13800138000.50", "*********00.50"),
        # the price of reading spaced groups as one number: 13 digits or more look like a card
        ("pay 3000 2000 1500 800", "pay **** **** ***0 800"),
        # a date at either end is judged apart, unless everything together is a phone number
        ("2026-11-28 500", "2026-11-28 500"),
        ("1990-01-13 800", "****-**-*3 800"),
    ],
)
def test_numbers_are_masked_whatever_their_separators(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("mail emma.li@example.com please", "mail e******@e******.com please"),
        ("邮箱13800138000@qq.com。", "邮箱1**********@q*.com。"),
        ("WANG.XM+loans@mail.bank.cn", "W************@m***.b***.cn"),
    ],
)
def test_email_addresses_are_masked(text, expected):
    assert mask_text(text) == expected
    assert mask_text(expected) == expected


#: What people put between the groups of a number (full-width forms from Chinese keyboards).
SEPARATORS = [" ", "  ", "-", ".", "/", "_", "·", "－", "．", "／", "\u3000", " - ", " / ", "–"]
CONTEXT = st.tuples(
    st.sampled_from(["", "call ", "电话：", "ID ", "卡号", "my card is "]),
    st.sampled_from(["", ".", "。", " thanks", "，谢谢", ", ok"]),
)
PHONES = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)
#: Resident ID numbers: a real province code, a birth date, a sequence, a check digit or X.
IDS = st.from_regex(
    r"(1[1-5]|2[1-3]|3[1-7]|4[1-6]|5[0-4]|6[1-5])[0-9]{4}(19|20)[0-9]{2}(0[1-9]|1[0-2])"
    r"(0[1-9]|[12][0-9])[0-9]{3}[0-9X]",
    fullmatch=True,
)
#: Card numbers with real issuer prefixes: Visa, Mastercard, UnionPay, American Express.
CARDS = st.from_regex(r"4[0-9]{12}([0-9]{3}){0,2}|5[1-5][0-9]{14}|62[0-9]{14,17}|3[47][0-9]{13}", fullmatch=True)


@st.composite
def written(draw, numbers):
    """A number from `numbers`, cut anywhere into groups joined by any separators, in a sentence."""
    number = draw(numbers)
    cuts = sorted(draw(st.sets(st.integers(1, len(number) - 1), max_size=len(number) - 1)))
    groups = [number[a:b] for a, b in zip([0, *cuts], [*cuts, len(number)], strict=True)]
    text = groups[0] + "".join(draw(st.sampled_from(SEPARATORS)) + group for group in groups[1:])
    before, after = draw(CONTEXT)
    return number, before, text, after


@given(st.one_of(written(PHONES), written(IDS), written(CARDS)))
def test_any_separator_pattern_of_a_phone_id_or_card_number_is_masked(case):
    number, before, text, after = case
    masked = mask_text(before + text + after)
    assert len(masked) == len(before + text + after)
    shown = masked[len(before) : len(before) + len(text)]
    assert [ch for ch in shown if ch.isdigit() or ch in "Xx"] == list(number[-4:]), (text, shown)
    assert masked.startswith(before) and masked.endswith(after)


@given(st.text(st.one_of(st.sampled_from(list("0123456789 -./Xx+()@a,*２－")), st.characters())))
def test_masking_any_text_is_idempotent_and_keeps_its_length(text):
    once = mask_text(text)
    assert len(once) == len(text)
    assert mask_text(once) == once
