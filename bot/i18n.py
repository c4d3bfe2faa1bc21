"""Render the bot's messages in the borrower's language.

Every message the bot says is a *key* (``greeting``, ``btn.agree``, ``error.generic``) looked
up in ``locales/<lang>/*.toml`` (``messages.toml`` for the conversation; other areas keep their
own file), where it maps to a Jinja2 template string.  Both languages hold the same keys;
``keys(locale)`` lists them so a test can compare them.

Two kinds of keys:

* **HTML messages** (every key not listed below) are rendered with Jinja2 *autoescape on*:
  the output is Telegram HTML (``parse_mode=HTML``), so every value passed in as data --
  names, free text typed by the borrower -- is escaped.  Templates themselves may only use
  the tags Telegram allows (see ``TELEGRAM_TAGS``; ``check_telegram_html`` checks a text).
* **Plain-text keys**, whose name starts with one of ``PLAIN_TEXT_PREFIXES`` (``btn.`` for
  button labels, ``cmd.`` for command descriptions, ``file.`` for text inside files such as the
  calendar): Telegram shows these verbatim, so they
  are rendered *without* escaping (``Tom & Jerry`` must not become ``Tom &amp; Jerry`` on a
  button).  Never send a plain-text key's output with ``parse_mode=HTML``.

Filters available in every template, formatted with Babel for the template's locale:

* ``amount|money(currency)`` -- ``Decimal`` (or ``int``) amount, ISO currency code:
  zh_CN ``¥1,234.50``, en ``CN¥1,234.50``; JPY shows no decimals.  Amounts are quantized to
  the currency's digits with ``ROUND_HALF_UP`` for display only; floats are refused.
* ``day|date`` -- a ``datetime.date``: zh_CN ``2024年3月5日``, en ``Mar 5, 2024``
  (CLDR "medium"; pass another Babel format name or pattern as the argument).
* ``day|month`` -- the calendar month of a ``datetime.date``: ``December 2026``, ``2026年12月``.
* ``fraction|percent`` -- ``Decimal('0.126834')`` -> ``12.68%`` (2 decimals, ROUND_HALF_UP;
  ``percent(1)`` for one decimal).
* ``value|number`` -- a grouped number, ``1,234.5``; ``number(2)`` fixes 2 decimals.

Counts are written with Jinja2's i18n block, whose form is chosen by the language's CLDR
plural rules (Babel): ``{% trans count=n %}{{ count }} payment{% pluralize %}{{ count }}
payments{% endtrans %}`` says "1 payment" and "2 payments" in English; Chinese has one form,
so both halves are the same there. Never ``{% if n == 1 %}`` in a template.

Undefined template variables raise (``StrictUndefined``), so a missing piece of data is a bug
that tests see, not an empty gap in a message to a borrower.

API::

    LOCALES = ("zh_CN", "en")
    render(locale, key, **data) -> str          # KeyError naming an unknown key
    keys(locale) -> set[str]
    resolve_locale(stored, telegram_language_code, default) -> str
    Translator(locales_dir=None)                 # same methods; the functions use a shared one
    Translator().problems() -> list[str]         # missing keys, syntax errors, bad markup
    check_telegram_html(text) -> list[str]       # what Telegram would refuse in a text
"""

from __future__ import annotations

import datetime as dtm
import functools
import html
import re
import tomllib
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date, format_skeleton
from babel.numbers import (
    NumberPattern,
    format_decimal,
    get_currency_precision,
    parse_pattern,
)
from jinja2 import (
    DictLoader,
    Environment,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
)
from jinja2 import meta as jinja2_meta

__all__ = [
    "LOCALES",
    "PLAIN_TEXT_PREFIXES",
    "TELEGRAM_TAGS",
    "Translator",
    "check_telegram_html",
    "keys",
    "render",
    "resolve_locale",
]

LOCALES: tuple[str, ...] = ("zh_CN", "en")

#: Keys starting with one of these are plain text (button labels, command descriptions).
PLAIN_TEXT_PREFIXES: tuple[str, ...] = ("btn.", "cmd.", "file.")

#: Tags Telegram accepts with parse_mode=HTML (https://core.telegram.org/bots/api#html-style).
TELEGRAM_TAGS: frozenset[str] = frozenset(
    {
        "b",
        "strong",
        "i",
        "em",
        "u",
        "ins",
        "s",
        "strike",
        "del",
        "a",
        "code",
        "pre",
        "tg-spoiler",
        "span",
        "blockquote",
        "tg-emoji",
    }
)

PLAIN_TEXT_MEMO = 4096  # rendered plain texts kept in memory (then the memo starts again)

_DEFAULT_LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"


# --------------------------------------------------------------------------- formatting


def _exact_number(value: Any, what: str) -> Decimal:
    """Accept Decimal, int or a decimal string; refuse floats (and bools) outright."""
    if isinstance(value, bool | float):
        raise TypeError(f"{what} must be a Decimal, not {type(value).__name__}: {value!r}")
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | str):
        return Decimal(value)
    raise TypeError(f"{what} must be a Decimal, got {type(value).__name__}: {value!r}")


def _quantize(value: Decimal, digits: int) -> Decimal:
    return value.quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)


@functools.cache
def _number_pattern(pattern: str) -> NumberPattern:
    return parse_pattern(pattern)


def make_filters(locale: str) -> dict[str, Any]:
    """The Babel filters of one language. The locale and its currency pattern are parsed once
    here, not on every amount (Babel's `format_currency` would, at ~3x the cost)."""
    babel_locale = Locale.parse(locale)
    money_pattern = babel_locale.currency_formats["standard"]

    def money(amount: Any, currency: str) -> str:
        value = _exact_number(amount, "money amount")
        digits = get_currency_precision(currency)
        return money_pattern.apply(_quantize(value, digits), babel_locale, currency=currency, currency_digits=True)

    def date(value: dtm.date, format: str = "medium") -> str:  # noqa: A002 - Babel's name
        if not isinstance(value, dtm.date):
            raise TypeError(f"date filter needs a datetime.date, got {value!r}")
        if isinstance(value, dtm.datetime):
            value = value.date()
        return format_date(value, format=format, locale=locale)

    def month(value: dtm.date) -> str:
        """A calendar month: "December 2026", "2026年12月" (CLDR's year-and-month skeleton)."""
        if not isinstance(value, dtm.date):
            raise TypeError(f"month filter needs a datetime.date, got {value!r}")
        return format_skeleton("yMMMM", value, locale=locale)

    def percent(fraction: Any, decimals: int = 2) -> str:
        value = _quantize(_exact_number(fraction, "percent") * 100, decimals) / 100
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "") + "%"
        return _number_pattern(pattern).apply(value, babel_locale)

    def number(value: Any, decimals: int | None = None) -> str:
        exact = _exact_number(value, "number")
        if decimals is None:
            return format_decimal(exact, locale=locale, decimal_quantization=False)
        pattern = "#,##0" + ("." + "0" * decimals if decimals else "")
        return format_decimal(_quantize(exact, decimals), pattern, locale=locale)

    return {"money": money, "date": date, "month": month, "percent": percent, "number": number}


def _as_is(text: str) -> str:
    """The templates are already in their language: `{% trans %}` without a plural is as written."""
    return text


def _plural_chooser(locale: str):
    """`ngettext` for `{% trans count=n %}...{% pluralize %}...{% endtrans %}`: the first form
    where the language's CLDR rule (Babel) puts `n` in the "one" category, else the second."""
    babel_locale = Locale.parse(locale)

    def ngettext(singular: str, plural: str, count: int | Decimal | str) -> str:
        number = abs(Decimal(count))
        return singular if babel_locale.plural_form(number) == "one" else plural

    return ngettext


# --------------------------------------------------------------------------- catalogues


def _flatten(table: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """``{"btn": {"agree": "..."}}`` -> ``{"btn.agree": "..."}``; values must be strings."""
    flat: dict[str, str] = {}
    for name, value in table.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, key + "."))
        elif isinstance(value, str):
            flat[key] = value
        else:
            raise ValueError(f"message {key!r} must be a string template, got {value!r}")
    return flat


def _is_plain_text(key: str | None) -> bool:
    return key is not None and key.startswith(PLAIN_TEXT_PREFIXES)


class Translator:
    """Loads every ``<locales_dir>/<locale>/*.toml`` on first use and caches the compiled
    templates (one Jinja2 environment per locale)."""

    def __init__(self, locales_dir: str | Path | None = None, locales: tuple[str, ...] = LOCALES):
        self.locales_dir = Path(locales_dir) if locales_dir is not None else _DEFAULT_LOCALES_DIR
        self.locales = tuple(locales)
        self._envs: dict[str, Environment] = {}
        self._catalogues: dict[str, dict[str, str]] = {}
        self._plain: dict[tuple, str] = {}

    def _catalogue(self, locale: str) -> dict[str, str]:
        if locale not in self.locales:
            raise ValueError(f"unsupported locale {locale!r}; expected one of {self.locales}")
        if locale not in self._catalogues:
            # Every *.toml in the language's folder is one part of its catalogue (messages,
            # broadcasts, support...), so each area keeps its own file; a key may live in one.
            catalogue: dict[str, str] = {}
            for path in sorted((self.locales_dir / locale).glob("*.toml")):
                with path.open("rb") as fh:
                    part = _flatten(tomllib.load(fh))
                clash = sorted(set(part) & set(catalogue))
                if clash:
                    raise ValueError(f"{path}: keys already defined in another file: {clash}")
                catalogue.update(part)
            self._catalogues[locale] = catalogue
        return self._catalogues[locale]

    def _env(self, locale: str) -> Environment:
        if locale not in self._envs:
            env = Environment(
                loader=DictLoader(self._catalogue(locale)),
                autoescape=lambda key: not _is_plain_text(key),
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                keep_trailing_newline=False,
                auto_reload=False,
                cache_size=-1,
                extensions=["jinja2.ext.i18n"],
            )
            env.filters.update(make_filters(locale))
            # (a method jinja2.ext.i18n adds to the environment: not in Environment's type)
            env.install_gettext_callables(  # type: ignore[attr-defined]
                gettext=_as_is, ngettext=_plural_chooser(locale), newstyle=True
            )
            self._envs[locale] = env
        return self._envs[locale]

    def keys(self, locale: str) -> set[str]:
        return set(self._catalogue(locale))

    def source(self, locale: str, key: str) -> str:
        """The raw template text of ``key`` (for tooling and tests)."""
        try:
            return self._catalogue(locale)[key]
        except KeyError:
            raise KeyError(f"unknown message key {key!r} for locale {locale!r}") from None

    def variables(self, locale: str, key: str) -> frozenset[str]:
        """The data names a template uses (what a caller must pass to render it)."""
        environment = self._env(locale)
        return frozenset(jinja2_meta.find_undeclared_variables(environment.parse(self.source(locale, key))))

    def render(self, locale: str, key: str, /, **data: Any) -> str:
        if not _is_plain_text(key):
            return self._render(locale, key, data)
        # Button labels and other plain texts repeat on every menu of every conversation, with
        # the same few parameters ("Choose {{ n }}"): render each once.
        memo = (locale, key, *sorted(data.items()))
        try:
            return self._plain[memo]
        except KeyError:
            if len(self._plain) >= PLAIN_TEXT_MEMO:
                self._plain.clear()
            text = self._plain[memo] = self._render(locale, key, data)
            return text
        except TypeError:  # a parameter that cannot be a dict key (a list...): no memo
            return self._render(locale, key, data)

    def _render(self, locale: str, key: str, data: dict[str, Any]) -> str:
        env = self._env(locale)
        try:
            template = env.get_template(key)
        except TemplateNotFound:
            raise KeyError(f"unknown message key {key!r} for locale {locale!r}") from None
        return template.render(**data).strip()

    def problems(self) -> list[str]:
        """Everything wrong with the catalogues, as readable lines (empty when all is well):
        keys missing from a locale, templates that do not compile, and markup in a template's
        static text that Telegram would reject (plain-text keys may hold no markup at all)."""
        found: list[str] = []
        all_keys = set().union(*(self.keys(locale) for locale in self.locales))
        for locale in self.locales:
            missing = sorted(all_keys - self.keys(locale))
            found.extend(f"{locale}: missing key {key!r}" for key in missing)
            env = self._env(locale)
            for key, source in sorted(self._catalogue(locale).items()):
                try:
                    env.get_template(key)
                except TemplateSyntaxError as exc:
                    found.append(f"{locale}: {key}: template error: {exc}")
                    continue
                static = _JINJA_CODE.sub("", source)
                if _is_plain_text(key):
                    if re.search(r"<[A-Za-z/]", static):
                        found.append(f"{locale}: {key}: plain-text key contains markup")
                else:
                    found.extend(f"{locale}: {key}: {p}" for p in check_telegram_html(static))
        return found


@functools.cache
def _default_translator() -> Translator:
    return Translator()


def render(locale: str, key: str, /, **data: Any) -> str:
    """Render message ``key`` in ``locale`` with ``data``; KeyError names an unknown key."""
    return _default_translator().render(locale, key, **data)


def keys(locale: str) -> set[str]:
    """All message keys of ``locale``."""
    return _default_translator().keys(locale)


# --------------------------------------------------------------------------- choosing


def _match_locale(code: str | None) -> str | None:
    if not code:
        return None
    if code in LOCALES:
        return code
    lowered = code.strip().lower().replace("-", "_")
    if lowered.startswith("zh"):
        return "zh_CN"
    if lowered.startswith("en"):
        return "en"
    return None


def resolve_locale(stored: str | None, telegram_language_code: str | None, default: str) -> str:
    """The borrower's stored choice first; else Telegram's ``language_code`` (``zh*`` ->
    ``zh_CN``, ``en*`` -> ``en``); else ``default``."""
    if default not in LOCALES:
        raise ValueError(f"default locale {default!r} is not one of {LOCALES}")
    return _match_locale(stored) or _match_locale(telegram_language_code) or default


# --------------------------------------------------------------------------- checking

_JINJA_CODE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_TAG = re.compile(r"<(/?)([A-Za-z][A-Za-z0-9-]*)((?:\s+[^<>]*)?)\s*(/?)>")
_ENTITY = re.compile(r"&(?:lt|gt|amp|quot|#\d+|#x[0-9A-Fa-f]+);")


def check_telegram_html(text: str) -> list[str]:
    """Problems Telegram would reject in ``text`` sent with parse_mode=HTML (empty if none):
    tags outside ``TELEGRAM_TAGS``, unbalanced tags, a bare ``<`` or ``>``, unknown entities."""
    problems: list[str] = []
    stack: list[str] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "<":
            match = _TAG.match(text, pos)
            if not match:
                problems.append(f"bare '<' at offset {pos}")
                pos += 1
                continue
            closing, name, _attrs, self_closing = match.groups()
            name = name.lower()
            if name not in TELEGRAM_TAGS:
                problems.append(f"unsupported tag <{name}> at offset {pos}")
            elif self_closing:
                problems.append(f"self-closing tag <{name}/> at offset {pos}")
            elif closing:
                if not stack or stack[-1] != name:
                    problems.append(f"unexpected end tag </{name}> at offset {pos}")
                else:
                    stack.pop()
            else:
                stack.append(name)
            pos = match.end()
        elif char == ">":
            problems.append(f"bare '>' at offset {pos}")
            pos += 1
        elif char == "&":
            match = _ENTITY.match(text, pos)
            if not match:
                problems.append(f"unescaped '&' at offset {pos}")
                pos += 1
            else:
                pos = match.end()
        else:
            pos += 1
    problems.extend(f"unclosed tag <{name}>" for name in stack)
    return problems


def plain_text(message_html: str) -> str:
    """Telegram HTML as plain text (for the terminal, files and support summaries)."""
    return html.unescape(re.sub(r"</?[a-z-]+[^>]*>", "", message_html))
