"""The dialogue in a terminal: messages as plain text, buttons as numbered choices.

Type a number to press a button, a /command, or an answer. Where the bot asks to share a
phone number, type the number. End with Ctrl-D (or Ctrl-C).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.i18n import plain_text
from bot.lender.plan_files import make_file, save_file
from bot.turn import Conversations, Message
from dialogs.model import Event

CONSOLE_CHAT = 1  # the terminal is one chat with one user


class Console:
    def __init__(self, conversations: Conversations, *, read: Callable[[str], str] = input,
                 write: Callable[[str], None] = print, language_code: str | None = None) -> None:
        self.conversations = conversations
        self.read = read
        self.write = write
        self.language_code = language_code
        self.choices: list[str] = []
        self.contact_requested = False

    def run(self, first: str = "/start") -> None:
        self.send("command", first)
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
            self.send("contact", "", contact_phone=line, contact_user_id=CONSOLE_CHAT)
        else:
            self.send("text", line)

    def send(self, kind: str, text: str, **extra: object) -> None:
        event = Event(kind, CONSOLE_CHAT, CONSOLE_CHAT, text=text, language_code=self.language_code,
                      update_id=None, **extra)  # type: ignore[arg-type]
        self.choices, self.contact_requested = [], False
        for message in self.conversations.handle(event):
            self.show(message)
            self.conversations.mark_sent(message)

    def show(self, message: Message) -> None:
        self.write("")
        self.write(plain_text(message.text))
        if message.request_contact:
            self.contact_requested = True
            self.write(f"  ({message.request_contact}: type your phone number / 请输入手机号)")
        for name in message.attachments:
            locale = self.conversations.locale_for(CONSOLE_CHAT, None)
            filename, content = make_file(self.conversations.store, name, message.plan_id,
                                          self.conversations.translator, locale)
            path = save_file(Path.cwd(), filename, content)  # never over an earlier one
            self.write("  " + self.conversations.translator.render(locale, f"file.saved.{name}", path=str(path)))
        if message.buttons:
            self.choices = [payload for row in message.buttons for _, payload in row]
            labels = [label for row in message.buttons for label, _ in row]
            for number, label in enumerate(labels, 1):
                self.write(f"  [{number}] {label}")
