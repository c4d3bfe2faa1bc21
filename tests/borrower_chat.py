"""A borrower talking to the real Application through the in-process fake Bot API.

`BorrowerChat` sends texts, commands, contacts and button presses (by label, as a person
would) and reads back what the bot sent; `make_bot_app` assembles the real Application over
a real SQLite file, exactly as `restructure-bot run` does, but with the fake as transport.
`walk_to(chat, step)` replays the route the step table gives to a step (`dialogue_harness`).
"""

from __future__ import annotations

import itertools

from telegram import Update

from bot.demo import load_demo
from bot.i18n import Translator
from bot.store import Store
from bot.tg.app import build_application
from bot.turn import Conversations
from dialogs.model import Event
from dialogs.steps import Step
from dialogue_harness import routes
from fakebot import TOKEN, make_callback_update, make_command_update, make_contact_update, make_text_update
from fixtures import NOW, clock
from plans.policy import default_policy

_update_ids = itertools.count(1000)


async def make_bot_app(
    fake,
    db_path,
    *,
    support_chat_id=None,
    now=clock,
    default_locale="zh_CN",
    policy=None,
    rate_limit=False,
    initialize=True,
):
    """The real Application over `db_path` (demo loans loaded), on the fake Bot API; with
    `rate_limit`, the AIORateLimiter `restructure-bot run` uses."""
    store = Store(db_path, clock=now)
    load_demo(store)
    conversations = Conversations(
        store, policy or default_policy(), Translator(), now, default_locale, support_chat_id=support_chat_id
    )
    app = build_application(
        conversations,
        token=TOKEN,
        base_url="http://fake/bot",
        base_file_url="http://fake/file/bot",
        request=fake,
        rate_limit=rate_limit,
    )
    if initialize:
        await app.initialize()
    return app, store


class BorrowerChat:
    def __init__(self, app, fake, *, chat_id: int = 501, user_id: int = 501, language: str = "en") -> None:
        self.app, self.fake = app, fake
        self.chat_id, self.user_id, self.language = chat_id, user_id, language

    async def _feed(self, data: dict) -> None:
        await self.app.process_update(Update.de_json(data, self.app.bot))

    async def say(self, text: str, *, update_id: int | None = None) -> str:
        uid = update_id or next(_update_ids)
        if text.startswith("/"):
            name, _, arg = text[1:].partition(" ")
            await self._feed(
                make_command_update(uid, self.chat_id, self.user_id, name, arg, language_code=self.language)
            )
        else:
            await self._feed(make_text_update(uid, self.chat_id, self.user_id, text, language_code=self.language))
        return self.text

    async def share_contact(self, phone: str, contact_user_id: int | None = None) -> str:
        await self._feed(
            make_contact_update(
                next(_update_ids),
                self.chat_id,
                self.user_id,
                phone,
                self.user_id if contact_user_id is None else contact_user_id,
                language_code=self.language,
            )
        )
        return self.text

    def button_data(self, label: str) -> str:
        for row in self.fake.last_buttons(self.chat_id):
            for text, data in row:
                if text == label:
                    return data
        raise AssertionError(f"no button {label!r} in {self.fake.last_buttons(self.chat_id)}")

    async def press(self, label: str, *, update_id: int | None = None) -> str:
        return await self.press_data(self.button_data(label), update_id=update_id)

    async def press_data(self, data: str, *, update_id: int | None = None) -> str:
        await self._feed(
            make_callback_update(
                update_id or next(_update_ids),
                self.chat_id,
                self.user_id,
                data,
                message_id=1,
                language_code=self.language,
            )
        )
        return self.text

    @property
    def text(self) -> str:
        return self.fake.last_text(self.chat_id)

    @property
    def labels(self) -> list[str]:
        return [text for row in self.fake.last_buttons(self.chat_id) for text, _ in row]

    def texts_since(self, count: int) -> list[str]:
        return [m.get("text", "") for m in self.fake.sent_messages(self.chat_id)[count:]]


# ------------------------------------------------------------------ paths through the dialogue


def data_with_payload(chat: BorrowerChat, payload: str, *, prefix: bool = False) -> str:
    """The callback data of the last buttons whose payload (after the menu number) is `payload`."""
    for row in chat.fake.last_buttons(chat.chat_id):
        for _, data in row:
            body = data.partition(":")[2]
            if body == payload or (prefix and body.startswith(payload)):
                return data
    raise AssertionError(f"no button {payload!r}: {chat.fake.last_buttons(chat.chat_id)}")


def route_to(step: Step, *, payday: str | None = None) -> list[tuple[str, str]]:
    """The step table's route to `step`; `payday`: typed as the answer to the payment day
    question instead of the route's button."""
    route = list(routes()[step])
    asked = len(routes()[Step.payment_day])
    if payday is not None and len(route) > asked and route[:asked] == list(routes()[Step.payment_day]):
        route[asked] = ("say", payday)
    return route


async def walk_to(chat: BorrowerChat, step: Step, *, below_telegram: bool = False, payday: str | None = None) -> str:
    """Replay the step table's route to `step` (see dialogue_harness.routes) through Telegram,
    or, where getting there is only the set-up of a test, straight through the turn below it
    (`Conversations.handle`, the replies marked sent): the same conversation, several times faster."""
    conversations = chat.app.bot_data["conversations"]
    messages: list = []
    for kind, value in route_to(step, payday=payday):
        if kind == "say" and value.startswith("/start "):
            value = "/start " + conversations.store.create_invite("CC-1001", NOW, 14)
        if not below_telegram:
            await _act_in_telegram(chat, kind, value)
            continue
        if kind == "press":
            value = next(
                data
                for message in messages
                for row in message.buttons
                for _, data in row
                if data.partition(":")[2] == value
            )
        event = Event(
            {"say": "command" if value.startswith("/") else "text", "press": "button", "contact": "contact"}[kind],
            chat.chat_id,
            chat.user_id,
            text="" if kind == "contact" else value,
            update_id=next(_update_ids),
            language_code=chat.language,
            contact_phone=value if kind == "contact" else "",
            contact_user_id=chat.user_id,
        )
        messages = conversations.handle(event)
        for message in messages:
            conversations.mark_sent(message)
    return messages[-1].text if below_telegram else chat.text


async def _act_in_telegram(chat: BorrowerChat, kind: str, value: str) -> None:
    if kind == "say":
        await chat.say(value)
    elif kind == "press":
        await chat.press_data(data_with_payload(chat, value))
    elif kind == "contact":
        await chat.share_contact(value)
    else:
        raise ValueError(f"{kind} is not something a borrower does in Telegram")


async def identify(chat: BorrowerChat) -> str:
    """/start, agree to the privacy notice, identify as the demo card holder; the loan overview."""
    return await walk_to(chat, Step.loan)


async def to_options(chat: BorrowerChat) -> str:
    """Identified, answered, reviewed: the plans shown."""
    return await walk_to(chat, Step.options)


async def answer_situation(chat: BorrowerChat, *, outlook: str = "Temporary", income: str = "9,000") -> str:
    """From the loan overview to the review, answering like the demo borrower; the review."""
    await chat.press("Continue")
    await chat.press("Lost my job")
    return await answer_from_outlook(chat, outlook=outlook, income=income)


async def answer_from_outlook(
    chat: BorrowerChat,
    *,
    outlook: str = "Temporary",
    income: str = "9,000",
    rest: tuple[str, ...] = ("¥5200", "800", "3k", "1"),
) -> str:
    """From "temporary or lasting?" to the review: recovery (unless lasting), salary income,
    payments on the loan's due day as now, spending as one total, then `rest` (spending, other
    debts, savings, dependants); the review."""
    await chat.press(outlook)
    if outlook != "Lasting":
        await chat.say("4")
        await chat.say("12000")
    await chat.say(income)
    await chat.press("Salary")
    await chat.press("Day 5, as now")
    await chat.press("One total")
    for answer in rest:
        await chat.say(answer)
    return chat.text
