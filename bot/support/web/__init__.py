"""The support web console (`restructure-bot support`): see `bot.support.web.app`."""
from __future__ import annotations

from bot.support.web.app import create_app

__all__ = ["create_app"]
