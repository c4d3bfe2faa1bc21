"""A person: the borrower asks (/human, a "talk to a person" button after repeated errors, at
the options, a lockout or a check-in), or a rule hands the case over (the re-plan limit).
Named handlers of the step table (`dialogs.steps`).

Never a dead end and never silent. With someone to answer (a support group or a support
console agent), the chat pauses at `with_person`: the team gets a card (a reply for the
support audience), the borrower is told honestly when a person will answer (working now, or
from when, by the support hours), everything they write goes to the team, and they can leave
the queue at any time (/cancel, /start or "continue with the assistant") and carry on where
they were. With nobody to answer through this channel, the borrower is told so and how else
to reach their lender (the policy's `contact`), and the conversation goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dialogs import identify, steps
from dialogs.model import Button, Event, Reply
from dialogs.ports import SupportStatus

if TYPE_CHECKING:
    from dialogs.machine import Dialogue
    from dialogs.state import State

RELAY_PIECE = 3500  # of a borrower's text per relayed message: Telegram allows 4,096 with the header
LEAVE = [[Button("leave_person", "leave:")]]


def pieces(text: str, limit: int = RELAY_PIECE) -> list[str]:
    """`text` in order, cut into pieces of at most `limit` UTF-16 code units (what Telegram
    counts: a character outside the BMP, such as most emoji, is two). A cut falls after a
    space when there is one near the end of a piece, so a word or a number is rarely split
    (masking personal data for the support team looks at one piece at a time)."""
    found: list[str] = []
    start = size = 0
    index = 0
    while index < len(text):
        width = 2 if ord(text[index]) > 0xFFFF else 1
        if size + width > limit:
            space = max(text.rfind(" ", start, index), text.rfind("\n", start, index))
            cut = space + 1 if space > start and index - space <= limit // 10 else index
            found.append(text[start:cut])
            start, index, size = cut, cut, 0
            continue
        size += width
        index += 1
    found.append(text[start:])
    return found


def _hours(status: SupportStatus) -> dict[str, Any]:
    return {"open": status.open_now, "opens_at": status.opens_at, "opens": status.opens, "closes": status.closes}


def request(d: Dialogue, state: State, event: Event, why: str) -> list[Reply]:
    """The borrower asks for a person; with nobody to answer, the conversation goes on."""
    replies = hand_off(d, state, why)
    return replies if state.step is steps.Step.with_person else [*replies, *d.ask(state)]


#: What a hand-off card may say besides the reason (`hand_off(..., **card)`), and its default.
CARD_DETAILS: dict[str, Any] = {"flags": [], "blocked_by": [], "for_approval": [], "shortfall": None, "currency": None}


def hand_off(d: Dialogue, state: State, why: str, **card: Any) -> list[Reply]:
    """Pause at the current step for the support team, or say honestly that nobody can answer
    here. `card` tells the team more than the reason: the engine's flags with their reasons,
    the lender rules that block plans and the plans a person could approve, the shortfall."""
    status = d.services.support_status()
    here = state.paused_at or steps.Step.consent if state.step is steps.Step.paused else state.step
    if not status.reachable:
        d.audit("person_requested", state, reason=why, step=here, reachable=False)
        return [Reply("person_unavailable", {"contact": d.services.policy.contact})]
    state.person_from, state.needs_person = here, True
    d.move(state, steps.Step.with_person, remember=False)
    d.audit("person_requested", state, reason=why, step=here)
    return [
        d.menu(state, "person_requested", LEAVE, _hours(status)),
        Reply("handoff.card", {**CARD_DETAILS, **card, "reason": why, "step": here}, audience="support"),
    ]


def show_waiting(d: Dialogue, state: State) -> list[Reply]:
    return [d.menu(state, "with_person_wait", LEAVE, _hours(d.services.support_status()))]


def relay(d: Dialogue, state: State, event: Event, text: str) -> list[Reply]:
    """What the borrower writes goes to the team, in pieces that fit a Telegram message."""
    return [
        Reply("handoff.relay", {"text": piece, "step": state.person_from}, audience="support") for piece in pieces(text)
    ]


def leave(d: Dialogue, state: State, event: Event, value: str) -> list[Reply]:
    """The borrower leaves the queue: the team is told (the ticket closes), the assistant goes on."""
    back = _back_with_the_assistant(d, state)
    d.audit("person_request_withdrawn", state, chat_id=event.chat_id, step=back)
    return [Reply("handoff.left", {"step": back}, audience="support"), Reply("person_left"), *d.ask(state)]


def closed_by_agent(d: Dialogue, state: State) -> list[Reply]:
    if state.step is not steps.Step.with_person:
        return []
    _back_with_the_assistant(d, state)
    return [Reply("person_closed"), *d.ask(state)]


def _back_with_the_assistant(d: Dialogue, state: State) -> steps.Step:
    """Out of the queue, back at the step the borrower asked for a person from (returned)."""
    back = state.person_from or steps.Step.consent
    state.person_from, state.needs_person = None, False
    d.return_to(state, back)
    return back


def command(d: Dialogue, state: State, event: Event, name: str, arg: str) -> list[Reply]:
    """Commands while a person has the conversation (/language, /plan and /schedule work as anywhere)."""
    if name == "/cancel":
        return leave(d, state, event, "")
    if name == "/start":
        told = [reply for reply in leave(d, state, event, "") if reply.audience == "support"]
        return [*told, *identify.start(d, state, event, arg)]
    if name == "/help":
        return [d.help(state), *show_waiting(d, state)]
    return show_waiting(d, state)
