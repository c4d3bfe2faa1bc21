"""Helpers for after-agreement tests: a borrower who has agreed a plan through the real
Application, and direct access to the store and the reminder dispatcher."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from borrower_chat import BorrowerChat, walk_to
from bot.lender.reminders import Dispatcher
from dialogs.steps import Step
from fixtures import SHANGHAI, clock, store_of
from plans.policy import default_policy


async def agree_a_plan(chat: BorrowerChat, choice: str = "Choose 2", *, payday: str | None = None) -> int:
    """Identify as the demo card holder, answer (below Telegram: this is set-up; `payday`
    typed as the payment day), then choose an option and agree through Telegram; the plan id."""
    await walk_to(chat, Step.budget, below_telegram=True, payday=payday)
    await chat.say("/help")  # the budget again, through Telegram, with its button
    await chat.press("Show me the plans")
    await chat.press(choice)
    await chat.press("I agree")
    return store_of(chat).active_plan_for_loan("CC-1001")["id"]


def dispatcher_for(chat: BorrowerChat) -> Dispatcher:
    return Dispatcher(chat.app.bot_data["conversations"], default_policy(), SHANGHAI, clock)


def at(year: int, month: int, day: int, hour: int = 11, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(year, month, day, hour, tzinfo=zone)
