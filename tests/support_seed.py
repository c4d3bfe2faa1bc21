"""A database with real conversations for the support tools' tests, made by the real dialogue.

* chat 501 (王小明, loan CC-1001), on 2026-11-20 (Shanghai time): the whole path to an
  accepted plan (#1); two reminders for it, one sent.
* chat 502 (Emma Li, loan CL-2002), on 2026-11-25: gives "something else" as the reason and
  types her phone and ID number into it, and is marked as waiting for a person.
* chat 503: a stranger who only said /start, on 2026-11-27.

`SEED` names what tests assert on.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from bot.demo import load_demo
from bot.i18n import Translator
from bot.store import Store
from bot.support.auth import add_user
from bot.turn import Conversations, Message
from dialogs.model import Event
from fixtures import Clock
from plans.policy import default_policy

START = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
PASSWORD = "correct horse battery"
FAST = {"n": 2**10}  # a cheap scrypt for test accounts; real accounts use the default cost


class Chat:
    """One borrower's chat, driven through `Conversations` like the terminal front end does."""

    _updates = itertools.count(1)

    def __init__(self, conversations: Conversations, chat_id: int, language: str = "en") -> None:
        self.conversations, self.chat_id, self.language = conversations, chat_id, language
        self.last: list[Message] = []

    def send(self, kind: str, text: str = "", **extra: object) -> list[Message]:
        event = Event(
            kind,
            self.chat_id,
            self.chat_id,
            text=text,
            update_id=next(self._updates),  # type: ignore[arg-type]
            language_code=self.language,
            **extra,
        )
        self.last = self.conversations.handle(event) or []
        return self.last

    def say(self, text: str) -> list[Message]:
        return self.send("command" if text.startswith("/") else "text", text)

    def press(self, label: str) -> list[Message]:
        for message in reversed(self.last):
            for row in message.buttons:
                for shown, data in row:
                    if shown == label:
                        return self.send("button", data)
        raise AssertionError(f"no button {label!r} in {[m.buttons for m in self.last]}")

    def press_nth(self, n: int) -> list[Message]:
        buttons = [data for message in self.last for row in message.buttons for _, data in row]
        return self.send("button", buttons[n])


SEED = {
    "accepted_chat": 501,
    "accepted_loan": "CC-1001",
    "accepted_borrower": 1,
    "accepted_name": "王小明",
    "person_chat": 502,
    "person_loan": "CL-2002",
    "person_borrower": 2,
    "person_name": "Emma Li",
    "person_phone": "+86 139 0013 9000",
    "person_id": "11010119900307567X",
    "stranger_chat": 503,
}


def seed(path, *, users: bool = True) -> tuple[Store, Clock]:
    """A fresh database file at `path` holding the conversations above (and, with `users`,
    the support accounts alice and bob, bob disabled)."""
    clock = Clock(START, step=timedelta(seconds=20))  # each reading 20 seconds after the last
    store = Store(path, clock=clock)
    load_demo(store)
    conversations = Conversations(store, default_policy(), Translator(), clock, "en")

    first = Chat(conversations, 501)
    first.say("/start")
    first.press("I agree")
    first.say("CC-1001")
    first.say("1234")
    first.press("Continue")
    first.press("Lost my job")
    first.press("Temporary")
    for text in ("4", "12000", "9000"):
        first.say(text)
    first.press("Salary")
    first.press("Day 5, as now")
    first.press("One total")
    for text in ("5200", "800", "3000", "1"):
        first.say(text)
    first.press_nth(-1)  # the review's last button: all correct
    first.press_nth(0)  # show me the plans
    first.press_nth(0)  # choose the first plan
    first.press("I agree")
    assert "Your plan is agreed" in first.last[0].text, first.last
    plan_id = store.load_conversation(501)["data"]["plan_id"]
    for number, (kind, status, sent) in enumerate([("before_due", "sent", True), ("due_today", "pending", False)], 1):
        store.db["reminders"].insert(
            {
                "plan_id": plan_id,
                "installment_number": number,
                "borrower_id": 1,
                "kind": kind,
                "send_at": "2026-12-02T01:00:00.000000+00:00",
                "status": status,
                "sent_at": "2026-12-02T01:00:05.000000+00:00" if sent else None,
                "created_at": "2026-11-20T01:30:00.000000+00:00",
            }
        )

    clock.advance(days=5)
    second = Chat(conversations, 502)
    second.say("/start")
    second.press("I agree")
    second.say("CL-2002")
    second.say("567X")
    second.press("Continue")
    second.press("Something else")
    second.say(f"Please call {SEED['person_phone']}, my ID is {SEED['person_id']}")
    # waiting for a person (set through the store: how the dialogue hands over is not ours)
    saved = store.load_conversation(502)
    store.save_conversation(
        502,
        step=saved["step"],
        data=saved["data"],
        version=saved["version"],
        locale=saved["locale"],
        borrower_id=saved["borrower_id"],
        loan_id=saved["loan_id"],
        telegram_user_id=saved["telegram_user_id"],
        needs_person=True,
    )

    clock.advance(days=2)
    Chat(conversations, 503).say("/start")

    if users:
        add_user(store, "alice", PASSWORD, **FAST)
        add_user(store, "bob", PASSWORD, **FAST)
        store.disable_support_user("bob")
    return store, clock
