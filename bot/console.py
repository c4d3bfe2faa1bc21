"""The dialogue in a terminal: messages as plain text, buttons as numbered choices.

Type a number to press a button, a /command, or an answer. Where the bot asks to share a
phone number, type the number, as the lender has it or in international form. End with
Ctrl-D (or Ctrl-C); started again on the same database, the conversation resumes where it was.

The terminal is its own chat (`TERMINAL_CHAT`) and its own user, never a Telegram account:
identifying here binds no Telegram account to the borrower (see `Conversations(binds_accounts=False)`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.i18n import plain_text
from bot.lender.plan_files import make_file, save_file
from bot.turn import Conversations, Message
from dialogs.model import Event, EventKind

TERMINAL_CHAT = 0  # no Telegram chat or user has id 0
TERMINAL_USER = 0


class Console:
    def __init__(
        self,
        conversations: Conversations,
        *,
        read: Callable[[str], str] = input,
        write: Callable[[str], None] = print,
        language_code: str | None = None,
    ) -> None:
        self.conversations = conversations
        self.read = read
        self.write = write
        self.language_code = language_code
        self.choices: list[str] = []
        self.contact_requested = False

    def run(self) -> None:
        """Resume the terminal's conversation if there is one, else /start; then read lines."""
        resumed = self.conversations.push(TERMINAL_CHAT, lambda dialogue, state: dialogue.resume(state))
        if resumed:
            self.show_all(resumed)
        else:
            self.send("command", "/start")
        while True:
            try:
                line = self.read("> ").strip()
            except (EOFError, KeyboardInterrupt):
                self.write("")
                return
            if line:
                self.dispatch(line)

    def dispatch(self, line: str) -> None:
        if line.startswith("/"):
            self.send("command", line)
        elif line.isdigit() and 1 <= int(line) <= len(self.choices):
            self.send("button", self.choices[int(line) - 1])
        elif self.contact_requested:
            self.send("contact", "", contact_phone=line, contact_user_id=TERMINAL_USER)
        else:
            self.send("text", line)

    def send(self, kind: EventKind, text: str, *, contact_phone: str = "", contact_user_id: int | None = None) -> None:
        event = Event(
            kind,
            TERMINAL_CHAT,
            TERMINAL_USER,
            text=text,
            language_code=self.language_code,
            update_id=None,
            contact_phone=contact_phone,
            contact_user_id=contact_user_id,
        )
        self.show_all(self.conversations.handle(event))

    def show_all(self, messages: list[Message]) -> None:
        self.choices, self.contact_requested = [], False
        for message in messages:
            if message.to_support:
                continue
            self.show(message)
            self.conversations.mark_sent(message)

    def show(self, message: Message) -> None:
        self.write("")
        self.write(plain_text(message.text))
        locale = self.conversations.locale_for(TERMINAL_CHAT, None)
        if message.request_contact:
            self.contact_requested = True
            hint = self.conversations.translator.render(locale, "console.type_phone")
            self.write(f"  [{message.request_contact}] {hint}")
        for name in message.attachments:
            assert message.plan_id is not None  # a file is made of a plan
            filename, content = make_file(
                self.conversations.store, name, message.plan_id, self.conversations.translator, locale
            )
            path = save_file(Path.cwd(), filename, content)  # never over an earlier one
            self.write("  " + self.conversations.translator.render(locale, f"file.saved.{name}", path=str(path)))
        if message.buttons:
            self.choices = [payload for row in message.buttons for _, payload in row]
            labels = [label for row in message.buttons for label, _ in row]
            for number, label in enumerate(labels, 1):
                self.write(f"  [{number}] {label}")
