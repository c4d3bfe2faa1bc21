"""Helpers for after-agreement tests: a borrower who has agreed a plan through the real
Application, and direct access to the store and the reminder dispatcher."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from borrower_chat import BorrowerChat, clock
from bot.reminders import Dispatcher
from plans.policy import default_policy

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def agree_a_plan(chat: BorrowerChat, choice: str = "Choose 2") -> int:
    """Identify as the demo card holder, answer, choose an option and agree; the plan id."""
    await chat.say("/start")
    await chat.press("I agree")
    await chat.say("CC-1001")
    await chat.say("1234")
    await chat.press("Continue")
    await chat.press("Lost my job")
    await chat.press("Temporary")
    for answer in ("4", "12000", "9000"):
        await chat.say(answer)
    await chat.press("Salary")
    await chat.press("One total")
    for answer in ("5200", "800", "3000", "1"):
        await chat.say(answer)
    await chat.press("All correct")
    await chat.press("Show me the plans")
    await chat.press(choice)
    await chat.press("I agree")
    store = chat.app.bot_data["conversations"].store
    return store.active_plan_for_loan("CC-1001")["id"]


def dispatcher_for(chat: BorrowerChat) -> Dispatcher:
    return Dispatcher(chat.app.bot_data["conversations"], default_policy(), SHANGHAI, clock)


def at(year: int, month: int, day: int, hour: int = 11, zone: ZoneInfo = SHANGHAI) -> datetime:
    return datetime(year, month, day, hour, tzinfo=zone)
