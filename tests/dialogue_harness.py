"""The dialogue without Telegram: `Talk` drives `Dialogue.handle` over an in-memory store with
the demo loans (the real `StoreServices`, the real engine, the real templates), and `routes`
walks the step table to find, for every step, a way a borrower gets there.

    talk = Talk()                      # English; `Talk(locale="zh_CN")`
    talk.say("/start"); talk.press("I agree"); talk.say("CC-1001")
    talk.keys                          # message keys of the last replies (borrower audience)
    talk.labels, talk.text, talk.state # rendered button labels and texts, the saved state

`routes()` is a breadth-first walk from /start: at each step it tries every button offered,
the step's example answer from the table (`Row.text_example`; identification with the demo
loan), a shared contact, the borrower's commands, and the reminder dispatcher's check-in; the
first way found to each step is its route, as actions a test can replay anywhere (through the
Telegram Application too): ("say", text), ("press", payload without the menu number),
("contact", phone), or what the world does: ("checkin", "") (the reminder dispatcher finds
the first instalment missed), ("expire_invites", phone) (then the phone is shared) and
("guessed_at", id digits) (strangers locked the loan number, then the right digits are typed).
"""

from __future__ import annotations

import functools
import sqlite3
from collections import deque
from datetime import date, datetime, time

from bot.demo import load_demo
from bot.i18n import Translator, plain_text
from bot.services import StoreServices
from bot.store import Store
from dialogs.answers import summary
from dialogs.identify import MAX_LOAN_FAILURES
from dialogs.machine import COMMANDS, Dialogue
from dialogs.model import Event, Reply
from dialogs.state import State
from dialogs.steps import ROWS, Step
from fixtures import NOW, SHANGHAI
from plans.policy import default_policy

TRANSLATOR = Translator()
#: Answers the table cannot know: the demo card holder's identity.
IDENTITY = {Step.identify_loan: "CC-1001", Step.identify_id: "1234"}
DEMO_PHONE = "8613800138000"  # as Telegram shares it
Action = tuple[str, str]


class Talk:
    """One borrower talking to the dialogue; every reply is rendered, so templates are checked too."""

    def __init__(
        self,
        *,
        locale: str = "en",
        user_id: int = 501,
        chat_id: int | None = None,
        support_chat_id: int | None = -100777,
        now: datetime = NOW,
        store: Store | None = None,
        binds_accounts: bool = True,
    ) -> None:
        self.now = now
        if store is None:
            store = Store(":memory:", clock=self.clock)
            load_demo(store)
        self.store = store
        self.services = StoreServices(
            store,
            default_policy(),
            TRANSLATOR,
            self.clock,
            SHANGHAI,
            (time(9), time(21)),
            support_chat_id=support_chat_id,
            binds_accounts=binds_accounts,
        )
        self.dialogue = Dialogue(self.services)
        self.state = State(locale=locale)
        self.user_id, self.chat_id = user_id, chat_id if chat_id is not None else user_id
        self.replies: list[Reply] = []
        self.update_id = 0

    def clock(self) -> datetime:
        return self.now

    # ------------------------------------------------------------------ acting

    def send(self, kind: str, text: str = "", **extra) -> list[Reply]:
        self.update_id += 1
        event = Event(kind, self.chat_id, self.user_id, text=text, update_id=self.update_id, **extra)
        self.replies = self.dialogue.handle(self.state, event)
        self.render()
        return self.replies

    def say(self, text: str) -> list[Reply]:
        return self.send("command" if text.startswith("/") else "text", text)

    def press(self, label: str) -> list[Reply]:
        """Press the button with this label (as rendered in the borrower's language)."""
        found = [data for text, data in self.buttons if text == label]
        assert found, f"no button {label!r} in {self.labels}"
        return self.send("button", found[-1])

    def press_payload(self, payload: str) -> list[Reply]:
        """Press the button whose payload (without the menu number) is `payload`."""
        found = [data for _, data in self.buttons if data.partition(":")[2] == payload]
        assert found, f"no button {payload!r} in {self.buttons}"
        return self.send("button", found[-1])

    def contact(self, phone: str = DEMO_PHONE, *, own: bool = True) -> list[Reply]:
        return self.send("contact", contact_phone=phone, contact_user_id=self.user_id if own else self.user_id + 1)

    def push(self, turn) -> list[Reply]:
        """A turn the bot starts (`turn(dialogue, state)`), such as a check-in."""
        self.replies = turn(self.dialogue, self.state)
        self.render()
        return self.replies

    def act(self, action: Action) -> list[Reply]:
        kind, value = action
        if kind == "say":
            return self.say(value)
        if kind == "press":
            return self.press_payload(value)
        if kind == "contact":
            return self.contact(value)
        if kind == "checkin":
            return self.push(lambda dialogue, state: dialogue.checkin(state, miss_first_instalment(self)))
        if kind == "guessed_at":  # other accounts have guessed at this loan number, then the ID is typed
            for stranger in range(MAX_LOAN_FAILURES):
                self.store.record_identification_attempt(
                    9000 + stranger, False, self.now, self.state.typed_loan, 9000 + stranger
                )
            return self.say(value)
        if kind == "expire_invites":  # time passes: every invitation has expired, then the phone is shared
            self.store.db.execute("UPDATE invites SET expires_at = created_at")  # expired as it was made
            return self.contact(value)
        raise ValueError(kind)

    def walk(self, route: list[Action]) -> Talk:
        for action in route:
            self.act(action)
        return self

    # ------------------------------------------------------------------ what was said

    def render(self) -> None:
        """Every reply rendered as the front ends would (a template error fails the test)."""
        self.texts = [
            TRANSLATOR.render(self.state.locale if r.audience == "borrower" else "en", r.key, **r.data)
            for r in self.replies
            if r.audience == "borrower" or "ticket_id" in r.data
        ]
        self.rendered_buttons = [
            [(TRANSLATOR.render(self.state.locale, f"btn.{b.key}", **b.params), b.payload) for b in row]
            for r in self.replies
            for row in r.buttons
        ]

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.replies if r.audience == "borrower"]

    def reply(self, key: str):
        """The borrower's one reply with this key (a screen, whatever notes come with it)."""
        [found] = [r for r in self.replies if r.audience == "borrower" and r.key == key]
        return found

    def card(self):
        """The hand-off card of this turn, and its text as the support team reads it (English;
        no ticket, borrower or loan rows: those come from the store in the real card)."""
        [card] = [r for r in self.replies if r.key == "handoff.card"]
        text = TRANSLATOR.render(
            "en",
            "handoff.card",
            **card.data,
            ticket_id=1,
            chat_id=1,
            borrower=None,
            loan=None,
            answers=summary(self.state.data, None),
            options=[],
            chosen=None,
            recent=[],
        )
        return card, text

    @property
    def support_keys(self) -> list[str]:
        return [r.key for r in self.replies if r.audience == "support"]

    @property
    def buttons(self) -> list[tuple[str, str]]:
        return [button for row in self.rendered_buttons for button in row]

    @property
    def labels(self) -> list[str]:
        return [label for label, _ in self.buttons]

    @property
    def payloads(self) -> list[str]:
        """The payloads offered, without the menu number."""
        return [data.partition(":")[2] for _, data in self.buttons]

    @property
    def text(self) -> str:
        return "\n\n".join(plain_text(text) for text in self.texts)

    @property
    def step(self) -> Step:
        return self.state.step

    def audit(self, event: str) -> list[dict]:
        return [dict(row) for row in self.store.db.query("SELECT * FROM audit WHERE event = ? ORDER BY id", [event])]


def miss_first_instalment(talk: Talk) -> int:
    """Mark the active plan's first instalment missed (as the reminder dispatcher would find
    it); the plan's id, which a check-in is about."""
    plan = talk.store.active_plan_for_borrower(talk.state.borrower_id)
    talk.store.db.execute("UPDATE installments SET status = 'missed' WHERE plan_id = ? AND number = 1", [plan["id"]])
    return plan["id"]


# ---------------------------------------------------------------------------- routes from the table


def _candidates(talk: Talk) -> list[Action]:
    row = ROWS[talk.step]
    found: list[Action] = [("press", payload) for payload in talk.payloads]
    example = IDENTITY.get(talk.step, row.text_example)
    if row.takes_text and example is not None:
        found.append(("say", example))
    if talk.step is Step.identify_id:
        found.append(("guessed_at", example))
    if row.on_contact is not None:
        found += [("contact", DEMO_PHONE), ("expire_invites", DEMO_PHONE)]
    found += [("say", f"/{name}") for name in COMMANDS if name not in ("start", "help", "language")]
    if talk.step is Step.done:
        found.append(("checkin", ""))
    return found


def _snapshot(talk: Talk) -> tuple[sqlite3.Connection, str]:
    copy = sqlite3.connect(":memory:")
    talk.store.db.conn.backup(copy)
    return copy, talk.state.model_dump_json()


def _restore(talk: Talk, snapshot: tuple[sqlite3.Connection, str], replies: list[Reply]) -> None:
    snapshot[0].backup(talk.store.db.conn)
    talk.state = State.model_validate_json(snapshot[1])
    talk.replies = replies
    talk.render()


def routes() -> dict[Step, tuple[Action, ...]]:
    """The first route found to every step reachable from /start (computed once per session)."""
    return explore()[0]


def transitions() -> set[tuple[Step, Step]]:
    """Every (from, to) move seen while exploring."""
    return explore()[1]


@functools.cache
def explore() -> tuple[dict[Step, tuple[Action, ...]], set[tuple[Step, Step]]]:
    talk = Talk()
    token = talk.store.create_invite("CC-1001", NOW, 14)
    found: dict[Step, tuple[Action, ...]] = {}
    moves: set[tuple[Step, Step]] = set()
    #: a step with and without an invitation, or with and without an amount of the borrower's
    #: own (the options then offer it), are different places
    seen: set[tuple[Step, bool, bool]] = set()
    queue: deque = deque()
    # Two ways in: typed identity first (most routes start with a plain /start), then an
    # invitation for what only it reaches.
    pristine = _snapshot(talk)
    for start in ("/start", f"/start {token}"):
        _restore(talk, pristine, [])
        talk.say(start)
        found.setdefault(talk.step, (("say", start),))
        queue.append(((("say", start),), _snapshot(talk), talk.replies))
        while queue:
            route, snapshot, replies = queue.popleft()
            _restore(talk, snapshot, replies)
            for action in _candidates(talk):
                _restore(talk, snapshot, replies)
                before = talk.step
                talk.act(action)
                moves.add((before, talk.step))
                place = (talk.step, talk.state.invite_token is not None, talk.state.custom is not None)
                if place not in seen:
                    seen.add(place)
                    found.setdefault(talk.step, (*route, action))
                    queue.append(((*route, action), _snapshot(talk), talk.replies))
    return found, moves


def at(step: Step, **talk_options) -> Talk:
    """A fresh borrower who has just reached `step` by its route."""
    talk = Talk(**talk_options)
    if any(kind == "say" and value.startswith("/start ") for kind, value in routes()[step]):
        invite = talk.store.create_invite("CC-1001", NOW, 14)
        route = [("say", f"/start {invite}") if v.startswith("/start ") else (k, v) for k, v in routes()[step]]
    else:
        route = list(routes()[step])
    talk.walk(route)
    assert talk.step is step, (step, talk.step, talk.keys)
    return talk


def today() -> date:
    return NOW.astimezone(SHANGHAI).date()
