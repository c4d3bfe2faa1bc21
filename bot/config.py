"""Settings of the runtime, read from BOT_* environment variables and an optional `.env` file.

Why pydantic-settings: every value is validated once, at start-up, and `load_settings` turns the
first mistake into ONE line naming the variable (`BOT_TIMEZONE: unknown time zone 'Mars/Base'`)
instead of a traceback deep inside the bot. The token is optional because most CLI commands
never talk to Telegram; `require_token()` is what `run` calls.
"""

from __future__ import annotations

from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.errors import ConfigError
from plans.errors import PolicyError
from plans.policy import Policy, default_policy, load_policy

ENV_PREFIX = "BOT_"


class Settings(BaseSettings):
    """One field per BOT_* variable (field `timezone` is BOT_TIMEZONE, and so on)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore")

    token: SecretStr | None = None
    api_url: str = "https://api.telegram.org/bot"
    api_file_url: str = "https://api.telegram.org/file/bot"
    database: str = "./restructure.db"
    policy: Path | None = None
    default_locale: Literal["zh_CN", "en"] = "zh_CN"
    timezone: str = "Asia/Shanghai"
    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    support_chat_id: int | None = None
    support_hours: str = Field(default="09:00-21:00", pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$")
    invite_ttl_days: int = Field(default=14, ge=1, le=365)
    #: the secret Telegram sends with every webhook POST (`run --webhook-url`)
    webhook_secret: SecretStr | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("token", "webhook_secret", "support_chat_id", "policy", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        """`BOT_TOKEN=` in a .env file means "not set", not an empty token."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("support_hours")
    @classmethod
    def _valid_hours(cls, value: str) -> str:
        try:
            start, end = (time.fromisoformat(part) for part in value.split("-"))
        except ValueError:
            raise ValueError(f"expected HH:MM-HH:MM, got {value!r}") from None
        if start == end:
            raise ValueError("support hours must not start and end at the same time")
        return value

    @property
    def support_window(self) -> tuple[time, time]:
        """(opens, closes) local times of the support team (may span midnight)."""
        start, end = self.support_hours.split("-")
        return time.fromisoformat(start), time.fromisoformat(end)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def require_token(self) -> str:
        """The bot token, or a ConfigError for commands that must talk to Telegram."""
        if self.token is None:
            raise ConfigError(f"{ENV_PREFIX}TOKEN: not set (ask @BotFather for a token)")
        return self.token.get_secret_value()

    def load_policy(self) -> Policy:
        """The policy at BOT_POLICY, or the one shipped with the package."""
        if self.policy is None:
            return default_policy()
        try:
            return load_policy(self.policy)
        except PolicyError as exc:
            raise ConfigError(f"{ENV_PREFIX}POLICY: {exc}") from None


def load_settings(env_file: str | Path | None = ".env") -> Settings:
    """Read the settings; the first invalid one becomes a one-line ConfigError."""
    try:
        return Settings(_env_file=env_file)
    except ValidationError as exc:
        error = exc.errors()[0]
        name = ENV_PREFIX + str(error["loc"][0]).upper()
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] != "value_error":
            message = f"{message} (got {error['input']!r})"
        raise ConfigError(f"{name}: {message}") from None
