"""One turn of the conversation, the same for every front end: dedupe and log the incoming
update, load the saved state, run the dialogue, save the state, render and log the replies.
All of it in one SQLite transaction, so a crash leaves either the whole turn or none of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, time
from zoneinfo import ZoneInfo

from bot.handoff import support_data
from bot.i18n import Translator, resolve_locale
from bot.services import StoreServices
from bot.store import Store
from dialogs.machine import Dialogue
from dialogs.model import Event, Reply
from dialogs.state import State
from plans.policy import Policy

SHANGHAI = ZoneInfo("Asia/Shanghai")  # BOT_TIMEZONE's default
TEXT_LIMIT = 4096  # UTF-16 code units in one Telegram message (counting the HTML tags too: safe side)


@dataclass(frozen=True)
class Message:
    """A rendered reply: Telegram HTML text, inline buttons as (label, callback data) rows."""

    text: str
    buttons: list[list[tuple[str, str]]] = field(default_factory=list)
    request_contact: str | None = None  # label of the "share my phone" button, when asked
    attachments: tuple[str, ...] = ()  # files to make from plan `plan_id` ("chart", "calendar")
    plan_id: int | None = None
    to_support: bool = False  # for the support team's chat, about ticket `ticket_id`
    ticket_id: int | None = None
    is_card: bool = False
    log_id: int | None = None  # its row in the message log, marked sent once delivered


def joined(messages: list[Message]) -> list[Message]:
    """A plain text followed by another message to the borrower becomes one message ("that is
    not an amount" + the question again; the welcome + the privacy notice): one notification
    on the phone, one Bot API call. Kept apart when the sum would pass Telegram's limit."""
    result: list[Message] = []
    for message in messages:
        previous = result[-1] if result else None
        if (
            previous is not None
            and not (
                previous.buttons
                or previous.request_contact
                or previous.attachments
                or previous.to_support
                or message.to_support
            )
            and len(f"{previous.text}{message.text}".encode("utf-16-le")) // 2 + 2 <= TEXT_LIMIT
        ):
            result[-1] = replace(message, text=f"{previous.text}\n\n{message.text}")
        else:
            result.append(message)
    return result


class Conversations:
    def __init__(
        self,
        store: Store,
        policy: Policy,
        translator: Translator,
        clock: Callable[[], datetime],
        default_locale: str = "zh_CN",
        zone: ZoneInfo = SHANGHAI,
        support_window: tuple[time, time] = (time(9), time(21)),
        support_chat_id: int | None = None,
        binds_accounts: bool = True,
    ) -> None:
        self.store = store
        self.support_chat_id = support_chat_id
        self.translator = translator
        self.default_locale = default_locale
        self.services = StoreServices(
            store,
            policy,
            translator,
            clock,
            zone,
            support_window,
            support_chat_id=support_chat_id,
            binds_accounts=binds_accounts,
        )
        self.dialogue = Dialogue(self.services)

    def handle(self, event: Event) -> list[Message]:
        """The messages to send for `event`. An update handled before (Telegram delivers at
        least once, and a crash may come between saving a turn and sending its replies) is not
        handled again: only its replies not yet known to be delivered are returned."""
        now = self.services.now()
        with self.store.transaction():
            saved = self.store.load_conversation(event.chat_id)
            state = State.model_validate(saved["data"]) if saved else self._new_state(event)
            fresh = self.store.log_message(
                direction="in",
                chat_id=event.chat_id,
                text=self._inbound_text(event),
                at=now,
                step=state.step,
                borrower_id=state.borrower_id,
                update_id=event.update_id,
            )
            if not fresh:
                return self.unsent_replies(event.update_id)
            replies = self.dialogue.handle(state, event)
            return self._save_and_render(event.chat_id, saved, state, replies, event.user_id, event.update_id)

    def push(self, chat_id: int, turn: Callable[[Dialogue, State], list[Reply]]) -> list[Message]:
        """A turn the bot starts (a check-in): the dialogue updates the saved state and says
        what to send. Nothing happens for a chat with no conversation."""
        with self.store.transaction():
            saved = self.store.load_conversation(chat_id)
            if saved is None:
                return []
            state = State.model_validate(saved["data"])
            replies = turn(self.dialogue, state)
            return self._save_and_render(chat_id, saved, state, replies, saved["telegram_user_id"], None)

    def mark_sent(self, message: Message) -> None:
        if message.log_id is not None:
            self.store.mark_sent(message.log_id, self.services.now())

    def unsent_replies(self, update_id: int | None) -> list[Message]:
        """The replies to an update that are recorded but not known to be delivered."""
        if update_id is None:
            return []
        return [
            Message(
                row["text"],
                [[tuple(button) for button in line] for line in row["buttons"]],
                row["meta"].get("request_contact"),
                tuple(row["meta"].get("attachments", ())),
                row["meta"].get("plan_id"),
                log_id=row["id"],
            )
            for row in self.store.unsent_replies(update_id)
            if row["text"]
        ]  # empty: not kept (declined)

    def _save_and_render(
        self,
        chat_id: int,
        saved: dict | None,
        state: State,
        replies: list[Reply],
        user_id: int | None,
        update_id: int | None,
    ) -> list[Message]:
        locale_before = saved["locale"] if saved else state.locale
        self.store.save_conversation(
            chat_id,
            step=state.step,
            data=state.model_dump(mode="json"),
            version=saved["version"] if saved else 0,
            locale=state.locale,
            borrower_id=state.borrower_id,
            loan_id=state.loan_id,
            telegram_user_id=user_id,
            needs_person=state.needs_person,
        )
        if state.locale != locale_before and state.borrower_id is not None:
            self.store.set_borrower_locale(state.borrower_id, state.locale)
        now = self.services.now()
        messages = joined(
            [
                self._render_support(chat_id, state, reply, now)
                if reply.audience == "support"
                else self.render(state.locale, reply)
                for reply in replies
            ]
        )
        logged = []
        for message in messages:
            if not message.to_support:  # the ticket and its audit events record what went to the team
                meta = {
                    "request_contact": message.request_contact,
                    "attachments": list(message.attachments),
                    "plan_id": message.plan_id,
                }
                message = replace(
                    message,
                    log_id=self.store.log_reply(
                        chat_id=chat_id,
                        text=message.text,
                        at=now,
                        step=state.step,
                        borrower_id=state.borrower_id,
                        buttons=message.buttons or None,
                        in_reply_to=update_id,
                        meta=meta,
                    ),
                )
            logged.append(message)
        if state.declined:  # the borrower declined the privacy notice: nothing they wrote is kept
            self.store.forget_chat_texts(chat_id)
        return logged

    def locale_for(self, chat_id: int, language_code: str | None) -> str:
        """The language this chat is spoken to in (for messages outside a turn)."""
        saved = self.store.load_conversation(chat_id)
        return resolve_locale(saved["locale"] if saved else None, language_code, self.default_locale)

    def _new_state(self, event: Event) -> State:
        borrower = self.store.borrower_by_telegram(event.user_id)
        stored = borrower["locale"] if borrower else None
        return State(locale=resolve_locale(stored, event.language_code, self.default_locale))

    @staticmethod
    def _inbound_text(event: Event) -> str:
        if event.kind == "contact":
            return f"[contact ***{event.contact_phone[-4:]}]"  # the number itself is personal data
        if event.kind == "button":
            return f"[button {event.text}]"
        if event.kind == "edited":
            return f"[edited] {event.text}"
        return event.text

    def _render_support(self, chat_id: int, state: State, reply: Reply, now: datetime) -> Message:
        """A message for the support team, in the team's language (BOT_DEFAULT_LOCALE)."""
        data = support_data(self.store, chat_id, state, reply, now)
        text = self.translator.render(self.default_locale, reply.key, **data)
        return Message(text, to_support=True, ticket_id=data["ticket_id"], is_card=reply.key == "handoff.card")

    def render(self, locale: str, reply: Reply) -> Message:
        text = self.translator.render(locale, reply.key, **reply.data)
        buttons = [
            [(self.translator.render(locale, f"btn.{b.key}", **b.params), b.payload) for b in row]
            for row in reply.buttons
        ]
        contact = self.translator.render(locale, "btn.share_contact") if reply.request_contact else None
        return Message(text, buttons, contact, reply.attachments, reply.data.get("plan_id"))
