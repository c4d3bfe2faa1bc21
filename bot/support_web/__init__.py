"""The support web console (`restructure-bot support`): see `bot.support_web.app`."""
from __future__ import annotations

from bot.support_web.app import create_app

__all__ = ["create_app"]
