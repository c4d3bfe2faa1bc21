"""Settings come from BOT_* variables and .env; every mistake is one line naming the variable."""

from __future__ import annotations

import os
from importlib import resources

import pytest

from bot.config import load_settings
from bot.errors import ConfigError
from plans.policy import default_policy


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No BOT_* variable from the developer's shell, and no stray .env in the working dir."""
    for name in list(os.environ):
        if name.startswith("BOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults():
    settings = load_settings()
    assert settings.token is None
    assert settings.api_url == "https://api.telegram.org/bot"
    assert settings.api_file_url == "https://api.telegram.org/file/bot"
    assert settings.database == "./restructure.db"
    assert settings.policy is None
    assert settings.default_locale == "zh_CN"
    assert settings.timezone == "Asia/Shanghai"
    assert settings.tz.key == "Asia/Shanghai"
    assert settings.admin_ids == frozenset()
    assert settings.support_chat_id is None
    assert settings.invite_ttl_days == 14


def test_reads_environment(monkeypatch):
    monkeypatch.setenv("BOT_TOKEN", "123:abc")
    monkeypatch.setenv("BOT_API_URL", "http://127.0.0.1:8081/bot")
    monkeypatch.setenv("BOT_DATABASE", "/var/lib/bot/loans.db")
    monkeypatch.setenv("BOT_DEFAULT_LOCALE", "en")
    monkeypatch.setenv("BOT_TIMEZONE", "Europe/London")
    monkeypatch.setenv("BOT_ADMIN_IDS", " 11, 22,,33 ")
    monkeypatch.setenv("BOT_SUPPORT_CHAT_ID", "-100123")
    monkeypatch.setenv("BOT_INVITE_TTL_DAYS", "3")
    settings = load_settings()
    assert settings.require_token() == "123:abc"
    assert settings.api_url == "http://127.0.0.1:8081/bot"
    assert settings.database == "/var/lib/bot/loans.db"
    assert settings.default_locale == "en"
    assert settings.tz.key == "Europe/London"
    assert settings.admin_ids == {11, 22, 33}
    assert settings.support_chat_id == -100123
    assert settings.invite_ttl_days == 3


def test_dotenv_file_is_read_and_environment_wins(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "BOT_TOKEN=from-file\nBOT_INVITE_TTL_DAYS=7\nOTHER_TOOL_SETTING=ignored\n", encoding="utf-8"
    )
    assert load_settings().require_token() == "from-file"
    monkeypatch.setenv("BOT_INVITE_TTL_DAYS", "30")
    settings = load_settings()
    assert settings.invite_ttl_days == 30
    assert settings.require_token() == "from-file"


def test_the_webhook_secret_comes_from_dotenv_too_and_is_not_shown(tmp_path):
    (tmp_path / ".env").write_text("BOT_WEBHOOK_SECRET=s3cret-from-file\n", encoding="utf-8")
    settings = load_settings()
    assert settings.webhook_secret is not None and settings.webhook_secret.get_secret_value() == "s3cret-from-file"
    assert "s3cret-from-file" not in repr(settings)


def test_explicit_env_file(tmp_path):
    env_file = tmp_path / "prod.env"
    env_file.write_text("BOT_DEFAULT_LOCALE=en\n", encoding="utf-8")
    assert load_settings(env_file).default_locale == "en"
    assert load_settings(None).default_locale == "zh_CN"


def test_blank_token_in_dotenv_means_unset(tmp_path):
    (tmp_path / ".env").write_text("BOT_TOKEN=\nBOT_SUPPORT_CHAT_ID=\n", encoding="utf-8")
    settings = load_settings()
    assert settings.token is None
    assert settings.support_chat_id is None


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("BOT_TIMEZONE", "Mars/Base", "BOT_TIMEZONE: unknown time zone 'Mars/Base'"),
        ("BOT_DEFAULT_LOCALE", "fr", "BOT_DEFAULT_LOCALE: Input should be 'zh_CN' or 'en' (got 'fr')"),
        (
            "BOT_ADMIN_IDS",
            "12,alice",
            "BOT_ADMIN_IDS: Input should be a valid integer, unable to parse string as an integer (got 'alice')",
        ),
        (
            "BOT_SUPPORT_CHAT_ID",
            "support",
            "BOT_SUPPORT_CHAT_ID: Input should be a valid integer, "
            "unable to parse string as an integer (got 'support')",
        ),
        ("BOT_INVITE_TTL_DAYS", "0", "BOT_INVITE_TTL_DAYS: Input should be greater than or equal to 1 (got '0')"),
    ],
)
def test_bad_setting_is_one_line_naming_it(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


def test_require_token_names_the_variable():
    settings = load_settings()
    with pytest.raises(ConfigError, match=r"^BOT_TOKEN: not set"):
        settings.require_token()


def test_token_is_not_shown_in_repr(monkeypatch):
    monkeypatch.setenv("BOT_TOKEN", "123:very-secret")
    assert "very-secret" not in repr(load_settings())


def test_policy_defaults_to_the_shipped_one():
    assert load_settings().load_policy() == default_policy()


def test_policy_from_a_path(tmp_path, monkeypatch):
    shipped = resources.files("plans").joinpath("default_policy.toml").read_text(encoding="utf-8")
    custom = tmp_path / "policy.toml"
    custom.write_text(shipped.replace("apr_cap = ", "apr_cap = 0.2 #", 1), encoding="utf-8")
    monkeypatch.setenv("BOT_POLICY", str(custom))
    policy = load_settings().load_policy()
    assert str(policy.apr_cap) == "0.2"


def test_unreadable_policy_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.setenv("BOT_POLICY", str(tmp_path / "missing.toml"))
    with pytest.raises(ConfigError, match=r"^BOT_POLICY: .*missing\.toml: cannot read"):
        load_settings().load_policy()
