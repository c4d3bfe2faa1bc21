"""bot/i18n.py: the same keys in every language, escaping, Babel formatting, locale choice."""

import datetime as dtm
import re
from decimal import Decimal
from pathlib import Path

import pytest

import plans
from bot import i18n
from bot.i18n import LOCALES, Translator, check_telegram_html, render, resolve_locale

# Sample data for the keys this module seeded.  Keys added later are covered by the
# catalogue-wide checks (same keys, templates compile, markup valid).
SAMPLES = {
    "greeting": {"name": "Li Lei"},
    "amount_line": {
        "amount": Decimal("1234.50"),
        "currency": "CNY",
        "due": dtm.date(2024, 3, 5),
        "apr": Decimal("0.126834"),
    },
    "error.generic": {},
    "btn.agree": {},
    "btn.decline": {},
}


def write_catalogue(root, locale, text):
    (root / locale).mkdir(parents=True, exist_ok=True)
    (root / locale / "messages.toml").write_text(text, encoding="utf-8")


# ----------------------------------------------------------------- the catalogues


def test_every_language_has_the_same_keys():
    reference = i18n.keys(LOCALES[0])
    for locale in LOCALES[1:]:
        assert i18n.keys(locale) == reference, (
            f"only in {LOCALES[0]}: {sorted(reference - i18n.keys(locale))}; "
            f"only in {locale}: {sorted(i18n.keys(locale) - reference)}"
        )


def test_seeded_keys_exist():
    for locale in LOCALES:
        assert set(SAMPLES) <= i18n.keys(locale)


def test_shipped_catalogues_have_no_problems():
    assert Translator().problems() == []


def test_problems_reports_a_key_missing_in_one_language(tmp_path):
    write_catalogue(tmp_path, "zh_CN", 'greeting = "您好"\nbtn.ok = "好"\n')
    write_catalogue(tmp_path, "en", 'greeting = "Hello"\n')
    translator = Translator(tmp_path)
    assert translator.keys("zh_CN") == {"greeting", "btn.ok"}
    assert translator.problems() == ["en: missing key 'btn.ok'"]


def test_problems_reports_bad_markup_and_syntax(tmp_path):
    write_catalogue(
        tmp_path,
        "zh_CN",
        'a = "line<br>break"\nb = "{{ oops"\nbtn.c = "<b>bold</b>"\nd = "{% if x < 3 %}<i>ok</i>{% endif %}"\n',
    )
    write_catalogue(tmp_path, "en", 'a = "x"\nb = "y"\nbtn.c = "z"\nd = "w"\n')
    problems = Translator(tmp_path).problems()
    assert any(p.startswith("zh_CN: a: unsupported tag <br>") for p in problems), problems
    assert any(p.startswith("zh_CN: b: template error") for p in problems), problems
    assert "zh_CN: btn.c: plain-text key contains markup" in problems
    assert not any(p.startswith("zh_CN: d") for p in problems), problems  # `<` inside {% %}
    assert len(problems) == 3


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("key", sorted(SAMPLES))
def test_every_seeded_template_renders_valid_telegram_html(locale, key):
    text = render(locale, key, **SAMPLES[key])
    assert text.strip() == text and text
    assert "{{" not in text and "{%" not in text
    assert check_telegram_html(text) == []


def test_every_reason_the_engine_gives_is_worded_in_every_language():
    """The options screen sums each option up from the engine's reason keys."""
    engine = "".join(path.read_text(encoding="utf-8") for path in Path(plans.__file__).parent.glob("*.py"))
    given = set(re.findall(r'Reason\("([a-z_]+)"', engine)) - {"best_balance"}  # best_balance: the ⭐
    assert {"fits_income", "balance_rises", "lowest_total_cost"} <= given
    for locale in LOCALES:
        assert {f"label.why.{key}" for key in given} <= i18n.keys(locale), locale


@pytest.mark.parametrize("locale", LOCALES)
def test_a_debt_that_grows_at_first_is_said_plainly_and_every_reason_renders(locale):
    option = {
        "monthly_min": Decimal("100"),
        "monthly_max": Decimal("200"),
        "last_payment": Decimal("200"),
        "currency": "CNY",
        "payments": 12,
        "first_due": dtm.date(2027, 1, 5),
        "down_payment": Decimal("0"),
        "total": Decimal("2000"),
        "interest": Decimal("100"),
        "penalties_waived": Decimal("0"),
        "waived": Decimal("0"),
        "penalties_kept": Decimal("0"),
        "kept_paid": "none",
        "interest_waived": Decimal("0"),
        "principal_waived": Decimal("0"),
        "pauses": [],
        "apr": Decimal("0.06"),
        "ear": Decimal("0.0617"),
        "reasons": [
            {"key": "balance_rises", "params": {"payments": "3"}},
            {"key": "rate_reduced", "params": {"from": "0.18", "to": "0.06"}},
            {"key": "settles_now", "params": {"discount": "500.00"}},
        ],
    }
    summary = render(locale, "option_summary", o=option)
    assert summary.splitlines()[-1].startswith("⚠️ ") and " 3 " in summary.splitlines()[-1]
    why = render(locale, "option_why", o=option)
    assert "18.00%" in why and "6.00%" in why and "500.00" in why and "⚠️" not in why
    assert check_telegram_html(summary) == check_telegram_html(why) == []


def test_rendered_amount_line_exact():
    data = SAMPLES["amount_line"]
    assert render("en", "amount_line", **data) == ("Overdue: <b>CN¥1,234.50</b>\nDue date: Mar 5, 2024\nAPR: 12.68%")
    assert render("zh_CN", "amount_line", **data) == (
        "逾期金额：<b>¥1,234.50</b>\n到期日：2024年3月5日\n年化利率（单利）：12.68%"
    )


def test_button_labels_are_plain_text():
    assert render("en", "btn.agree") == "I agree"
    assert render("zh_CN", "btn.decline") == "我不同意"


# ----------------------------------------------------------------- escaping


@pytest.mark.parametrize("locale", LOCALES)
def test_user_supplied_name_is_escaped(locale):
    text = render(locale, "greeting", name='<b>Tom & "Jerry"</b>')
    assert "&lt;b&gt;Tom &amp; &#34;Jerry&#34;&lt;/b&gt;" in text
    assert '<b>Tom & "Jerry"</b>' not in text
    assert check_telegram_html(text) == []


def test_plain_text_keys_are_not_escaped(tmp_path):
    for locale in LOCALES:
        write_catalogue(tmp_path, locale, 'btn.pay = "Pay {{ who }}"\nmsg = "Pay {{ who }}"\n')
    translator = Translator(tmp_path)
    assert translator.render("en", "btn.pay", who="Tom & Jerry") == "Pay Tom & Jerry"
    assert translator.render("en", "msg", who="Tom & Jerry") == "Pay Tom &amp; Jerry"


def test_plain_texts_are_remembered_per_language_and_parameters(tmp_path, monkeypatch):
    """Labels are rendered once per (language, key, parameters): never another's text."""
    for locale in LOCALES:
        write_catalogue(
            tmp_path, locale, f'btn.choose = "{locale} {{{{ n }}}}"\nbtn.all = \'{{{{ ns|join(",") }}}}\'\n'
        )
    translator = Translator(tmp_path)
    monkeypatch.setattr(i18n, "PLAIN_TEXT_MEMO", 3)
    for _ in range(2):
        assert [translator.render(locale, "btn.choose", n=n) for locale in LOCALES for n in (1, 2)] == [
            "zh_CN 1",
            "zh_CN 2",
            "en 1",
            "en 2",
        ]
    assert len(translator._plain) <= 3
    assert translator.render("en", "btn.all", ns=[1, 2]) == "1,2"  # a list is no dict key: rendered, not kept
    assert translator.render("en", "btn.all", ns=[3]) == "3"


# ----------------------------------------------------------------- errors


def test_unknown_key_raises_key_error_naming_it():
    with pytest.raises(KeyError, match="no.such.key"):
        render("en", "no.such.key")


def test_unknown_locale_is_refused():
    with pytest.raises(ValueError, match="fr"):
        render("fr", "greeting", name="x")


def test_missing_data_is_an_error_not_a_blank():
    with pytest.raises(Exception, match="name"):
        render("en", "greeting")


def test_money_refuses_floats():
    with pytest.raises(TypeError, match="float"):
        render("en", "amount_line", **{**SAMPLES["amount_line"], "amount": 1234.5})


def test_templates_are_compiled_once(tmp_path):
    for locale in LOCALES:
        write_catalogue(tmp_path, locale, 'hi = "Hi {{ n }}"\n')
    translator = Translator(tmp_path)
    env = translator._env("en")
    first = env.get_template("hi")
    assert translator.render("en", "hi", n=1) == "Hi 1"
    assert env.get_template("hi") is first


# ----------------------------------------------------------------- Babel filters


def fmt(locale, source, **data):
    return Translator()._env(locale).from_string(source).render(**data)


@pytest.mark.parametrize(
    ("locale", "amount", "currency", "expected"),
    [
        ("zh_CN", Decimal("1234.5"), "CNY", "¥1,234.50"),
        ("en", Decimal("1234.5"), "CNY", "CN¥1,234.50"),
        ("zh_CN", Decimal("1234"), "JPY", "JP¥1,234"),
        ("en", Decimal("1234"), "JPY", "¥1,234"),
        ("zh_CN", Decimal("0.005"), "CNY", "¥0.01"),  # ROUND_HALF_UP, not Babel's half-even
        ("en", Decimal("1234.5"), "JPY", "¥1,235"),
        ("en", Decimal("-20.00"), "CNY", "-CN¥20.00"),
        ("en", 1500, "CNY", "CN¥1,500.00"),
    ],
)
def test_money(locale, amount, currency, expected):
    assert fmt(locale, "{{ a|money(c) }}", a=amount, c=currency) == expected


@pytest.mark.parametrize(("locale", "expected"), [("zh_CN", "2024年3月5日"), ("en", "Mar 5, 2024")])
def test_date(locale, expected):
    assert fmt(locale, "{{ d|date }}", d=dtm.date(2024, 3, 5)) == expected


def test_date_accepts_a_babel_format():
    assert fmt("en", "{{ d|date('long') }}", d=dtm.date(2024, 3, 5)) == "March 5, 2024"


@pytest.mark.parametrize("locale", LOCALES)
def test_percent(locale):
    assert fmt(locale, "{{ p|percent }}", p=Decimal("0.126834")) == "12.68%"
    assert fmt(locale, "{{ p|percent }}", p=Decimal("0.126850")) == "12.69%"  # half-up
    assert fmt(locale, "{{ p|percent(1) }}", p=Decimal("0.05")) == "5.0%"


@pytest.mark.parametrize("locale", LOCALES)
def test_number(locale):
    assert fmt(locale, "{{ n|number }}", n=Decimal("12345.678")) == "12,345.678"
    assert fmt(locale, "{{ n|number(2) }}", n=Decimal("12345.675")) == "12,345.68"
    assert fmt(locale, "{{ n|number }}", n=7) == "7"


# ----------------------------------------------------------------- choosing the locale


@pytest.mark.parametrize(
    ("stored", "telegram", "default", "expected"),
    [
        ("en", "zh-hans", "zh_CN", "en"),  # the borrower's stored choice wins
        ("zh_CN", "en", "en", "zh_CN"),
        (None, "zh-hans", "en", "zh_CN"),
        (None, "zh-TW", "en", "zh_CN"),
        (None, "zh", "en", "zh_CN"),
        (None, "en-GB", "zh_CN", "en"),
        (None, "en", "zh_CN", "en"),
        (None, "fr", "zh_CN", "zh_CN"),  # unsupported -> default
        (None, None, "en", "en"),
        ("", "", "zh_CN", "zh_CN"),
        ("de", "en-US", "zh_CN", "en"),  # a stored value we no longer support is skipped
    ],
)
def test_resolve_locale(stored, telegram, default, expected):
    assert resolve_locale(stored, telegram, default) == expected


def test_resolve_locale_refuses_an_unsupported_default():
    with pytest.raises(ValueError):
        resolve_locale(None, None, "fr")


# ----------------------------------------------------------------- the HTML checker


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("<b>bold</b> and <i>it</i> &amp; &lt;3 &#34;q&#34;", True),
        ('<a href="https://example.org">link</a>', True),
        ("<tg-spoiler>x</tg-spoiler><blockquote>q</blockquote><pre><code>c</code></pre>", True),
        ("a<br>b", False),
        ("<b>unclosed", False),
        ("<b><i>crossed</b></i>", False),
        ("1 < 2", False),
        ("Tom & Jerry", False),
        ("&nbsp;", False),
    ],
)
def test_check_telegram_html(text, ok):
    assert (check_telegram_html(text) == []) is ok
