"""The dialogue: `Dialogue(services).handle(state, event) -> replies`, mutating `state`, by
running the step table (`dialogs.steps.TABLE`).

A turn: an identified conversation answers only the account that identified it; an edited
message is noted, not taken as an answer; commands are global (/start, /help, /cancel, /back,
/language, /human, /plan, /schedule, /paid); a paused conversation resumes on any message;
otherwise the current step's row takes the event: typed text (its parser, or its named
handler), a button, or a shared contact. Buttons carry the menu number they were offered under
(`<menu>:<action>:<value>`): an older number is a stale menu, a payload that was not offered is
refused and audited. Actions: `pick:<value>` answers a row's `Choice` (or, on a typed row, is
read as if typed), `next:` moves on along
the path, `back:<step>` returns to a step, `person:<why>` and `lang:<locale>` work anywhere,
and any other action is the row's `on_press[action]`. Errors never lose answers: the step is
shown again with what was expected.

Moving between steps happens in one place, `move` (history, the row's audit event, its `enter`
handler); `go` is a move and then `ask`, which shows a step and never writes.
"""

from __future__ import annotations

from typing import Any

from dialogs import aftercare, identify, person
from dialogs.model import Button, Event, Reply
from dialogs.parsing import InputError
from dialogs.ports import Services
from dialogs.state import State
from dialogs.steps import (
    ROWS,
    TABLE,
    Choice,
    Row,
    Step,
    Typed,
    first_of_group,
    next_step,
)
from plans.models import Loan

LOCALES = ("zh_CN", "en")
#: The borrower's commands, in the order Telegram's menu lists them.
COMMANDS = ("start", "help", "plan", "schedule", "paid", "back", "cancel", "language", "human")
ERRORS_BEFORE_OFFERING_PERSON = 3  # wrong answers in a row at one step
HISTORY = 30  # steps remembered for /back
NO_BACK = (Step.consent, Step.done, Step.with_person)


class Dialogue:
    services: Services

    def __init__(self, services: Services) -> None:
        self.services = services

    # ------------------------------------------------------------------ entry points

    def handle(self, state: State, event: Event) -> list[Reply]:
        if self._someone_else(state, event):
            self.services.audit(
                "other_user_refused",
                chat_id=event.chat_id,
                borrower_id=state.borrower_id,
                user_id=event.user_id,
                kind=event.kind,
            )
            return [Reply("identify_other_account")]
        if event.kind == "edited":
            return [Reply("edited_ignored")]
        if event.kind == "command":
            return self._command(state, event)
        if state.step is Step.paused:
            return self.resume(state)
        row = ROWS[state.step]
        if event.kind == "contact":
            if row.on_contact is None:
                return [Reply("error.use_buttons"), *self.ask(state)]
            return row.on_contact(self, state, event)
        if event.kind == "button":
            return self._press(state, row, event)
        return self._text(state, row, event)

    def resume(self, state: State) -> list[Reply]:
        """A front end reopens the conversation (or a paused one gets a message): where we are."""
        if state.step is Step.with_person:
            return self.ask(state)
        if state.step is Step.paused:
            self._unpause(state)
        return [Reply("resumed"), *self.ask(state)]

    def _unpause(self, state: State) -> None:
        """Back to the step the conversation was paused at."""
        self.return_to(state, state.paused_at or Step.consent)
        state.paused_at = None

    def checkin(self, state: State, plan_id: int) -> list[Reply]:
        """A missed instalment: ask what happened (pushed by the reminder dispatcher; the
        check-in is about the plan's earliest missed instalment)."""
        return aftercare.check_in(self, state, plan_id)

    def back_from_person(self, state: State) -> list[Reply]:
        """The agent closed the ticket: continue where the borrower left off."""
        return person.closed_by_agent(self, state)

    def _someone_else(self, state: State, event: Event) -> bool:
        """An identified conversation answers only the account that identified it (older saved
        conversations: the account bound to its borrower)."""
        if state.borrower_id is None:
            return False
        if state.user_id is not None:
            return event.user_id != state.user_id
        return self.services.borrower_for_user(event.user_id) != state.borrower_id

    # ------------------------------------------------------------------ commands

    def _command(self, state: State, event: Event) -> list[Reply]:
        name, arg = event.command
        if state.step is Step.with_person and name not in ("/language", "/plan", "/schedule"):
            return person.command(self, state, event, name, arg)
        if name == "/start":
            return identify.start(self, state, event, arg)
        if name == "/help":
            return [self.help(state), *self.ask(state)]
        if name == "/cancel":
            if state.step is not Step.paused:
                state.paused_at = state.step
            return self.go(state, Step.paused, remember=False)
        if name == "/back":
            return self._back(state)
        if name == "/language":
            return [self.menu(state, "choose_language", [[Button(f"lang_{loc}", f"lang:{loc}")] for loc in LOCALES])]
        if name == "/human":
            return person.request(self, state, event, "asked")
        if name in ("/plan", "/schedule", "/paid"):
            return aftercare.plan_command(self, state, name)
        return [Reply("error.unknown_command"), *self.ask(state)]

    def help(self, state: State) -> Reply:
        """The commands that make sense at this step, each with its description (`cmd.<key>`)."""
        if state.step is Step.with_person:
            names = [("cancel", "leave_person"), ("language", "language")]
        else:
            names = [("start", "start")]
            if self._back_target(state) is not None:
                names.append(("back", "back"))
            if state.step is not Step.paused:
                names.append(("cancel", "cancel"))
            names += [("language", "language"), ("human", "human")]
        if self.active_plan(state) is not None:
            names += [("plan", "plan"), ("schedule", "schedule")]
            if state.step is not Step.with_person:
                names.append(("paid", "paid"))
        return Reply("help", {"commands": [{"name": name, "key": key} for name, key in names]})

    def _back_target(self, state: State) -> Step | None:
        if state.step in NO_BACK:
            return None
        return next((step for step in reversed(state.history) if ROWS[step].when(state) or not ROWS[step].flow), None)

    def _back(self, state: State) -> list[Reply]:
        if state.step is Step.paused:  # /back resumes, then goes back
            self._unpause(state)
        target = self._back_target(state)
        if target is None:
            return [Reply("error.cannot_go_back"), *self.ask(state)]
        self.back_to(state, target)
        return self.ask(state)

    # ------------------------------------------------------------------ buttons and text

    def _press(self, state: State, row: Row, event: Event) -> list[Reply]:
        menu, _, payload = event.text.partition(":")
        if menu != str(state.menu):
            return [Reply("stale_menu"), *self.ask(state)]
        if payload not in state.offered:
            self.services.audit(
                "forged_callback",
                chat_id=event.chat_id,
                borrower_id=state.borrower_id,
                payload=payload[:64],
                step=state.step,
            )
            return [Reply("stale_menu"), *self.ask(state)]
        action, _, value = payload.partition(":")
        if action == "pick" and isinstance(row.answer, Choice):
            return self._keep(state, row, row.answer.convert(value))
        if action == "pick" and isinstance(row.answer, Typed):  # a button that types the answer
            return self._text(state, row, Event("text", event.chat_id, event.user_id, text=value))
        if action == "next":
            return self.advance(state)
        if action == "back":
            self.back_to(state, Step(value))
            return self.ask(state)
        if action == "lang":
            state.locale = value
            return [Reply("language_set"), *self.ask(state)]
        if action == "person":
            return person.request(self, state, event, value or "button")
        handler = row.on_press.get(action)
        return handler(self, state, event, value) if handler else self.ask(state)

    def _text(self, state: State, row: Row, event: Event) -> list[Reply]:
        try:
            if isinstance(row.answer, Typed):
                return self._keep(state, row, row.answer.parse(event.text, self))
            if row.on_text is not None:
                return row.on_text(self, state, event, event.text)
        except InputError as error:
            state.input_errors += 1
            replies = [Reply(error.key, dict(error.params)), *self.ask(state)]
            if state.input_errors >= ERRORS_BEFORE_OFFERING_PERSON:
                replies.append(self.menu(state, "offer_person", [[Button("person", "person:errors")]]))
            return replies
        return [Reply("error.use_buttons"), *self.ask(state)]  # a step that takes no text

    def _keep(self, state: State, row: Row, value: Any) -> list[Reply]:
        """Save a plain question's answer, forget the answers of steps that no longer apply
        (switching to "lasting" drops the expected change of income), and move on."""
        assert row.saves is not None, "`Row` requires `saves` of a row with an answer"
        name, _, key = row.saves.partition(".")
        if key:
            getattr(state.data, name)[key] = value
        else:
            setattr(state.data, name, value)
        for other in TABLE:
            if other.saves and not other.when(state):
                name, _, key = other.saves.partition(".")
                if key:
                    getattr(state.data, name).pop(key, None)
                else:
                    setattr(state.data, name, None)
        return self.advance(state)

    def edit(self, state: State, group: str) -> list[Reply]:
        """From the review: ask a group of answers again, then come back to the review."""
        state.editing = True
        return self.go(state, first_of_group(group))

    # ------------------------------------------------------------------ moving between steps

    def move(self, state: State, step: Step, *, remember: bool = True) -> list[Reply] | None:
        """The one transition: remember where we were (for /back), enter `step` and write its
        audit event; the step's `enter` handler may answer instead of the step's question."""
        if step != state.step:
            if remember and state.step not in (Step.paused, Step.with_person):
                state.history.append(state.step)
                del state.history[:-HISTORY]
            state.input_errors = 0
        state.step = step
        row = ROWS[step]
        if row.audit:
            self.audit(row.audit, state)
        return row.enter(self, state) if row.enter else None

    def go(self, state: State, step: Step, *, remember: bool = True) -> list[Reply]:
        replies = self.move(state, step, remember=remember)
        return replies if replies is not None else self.ask(state)

    def advance(self, state: State) -> list[Reply]:
        """On to the next step on the path that applies."""
        return self.go(state, next_step(state, state.step))

    def return_to(self, state: State, step: Step) -> None:
        """Go back to a step the borrower was at (after a pause, a payment report, a person)
        without entering it again: no audit, no new quote."""
        state.step, state.editing, state.input_errors = step, False, 0

    def back_to(self, state: State, step: Step) -> None:
        """`return_to` an earlier step, forgetting the history after it (/back, "back to the plans")."""
        while state.history and state.history[-1] != step:
            state.history.pop()
        if state.history:
            state.history.pop()
        self.return_to(state, step)

    # ------------------------------------------------------------------ showing a step

    def ask(self, state: State) -> list[Reply]:
        """What the current step shows: a question, a menu, or what its handler builds."""
        row = ROWS[state.step]
        if row.show:
            return row.show(self, state)
        assert row.key is not None, "`Row` requires a message key of a row without `show`"
        data = row.data(self, state) if row.data else {}
        if row.contact:
            self.close_menu(state)
            return [Reply(row.key, data, request_contact=True)]
        buttons = (
            row.answer.buttons(self, state)
            if isinstance(row.answer, Choice)
            else (row.menu(self, state) if row.menu else None)
        )
        if buttons:
            return [self.menu(state, row.key, buttons, data)]
        return self.prompt(state, row.key, **data)

    def menu(
        self, state: State, key: str, buttons: list[list[Button]], data: dict[str, Any] | None = None, **extra: Any
    ) -> Reply:
        """A reply with a fresh menu: older buttons become stale, only these are valid."""
        state.menu += 1
        state.offered = [button.payload for row in buttons for button in row]
        return Reply(
            key,
            data or {},
            [[Button(b.key, f"{state.menu}:{b.payload}", b.params) for b in row] for row in buttons],
            **extra,
        )

    def prompt(self, state: State, key: str, **data: Any) -> list[Reply]:
        """A free-text question; no old button stays live."""
        self.close_menu(state)
        return [Reply(key, data)]

    def close_menu(self, state: State) -> None:
        state.menu += 1
        state.offered = []

    # ------------------------------------------------------------------ what handlers share

    def audit(self, event: str, state: State, **details: Any) -> None:
        self.services.audit(event, borrower_id=state.borrower_id, loan_id=state.loan_id, **details)

    def loans(self, state: State) -> list[Loan]:
        return self.services.loans(state.borrower_id) if state.borrower_id is not None else []

    def loan(self, state: State) -> Loan | None:
        return next((loan for loan in self.loans(state) if loan.loan_id == state.loan_id), None)

    def currency(self, state: State) -> str:
        loan = self.loan(state)
        return loan.currency if loan else "CNY"

    def active_plan(self, state: State) -> dict[str, Any] | None:
        return self.services.active_plan(state.borrower_id) if state.borrower_id is not None else None
