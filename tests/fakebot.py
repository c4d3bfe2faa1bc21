"""An in-process fake of the Telegram Bot API, for driving the real python-telegram-bot.

PTB sends every Bot API call through a ``telegram.request.BaseRequest``.  ``FakeBotAPI`` is
one: hand it to ``ApplicationBuilder().request(fake).get_updates_request(fake)`` (or use
``build_application(fake)``) and the real ``Application``/``Bot`` run unchanged, while each
call is answered here, in the same event loop, and recorded.

::

    FakeTelegram                 the Bot API model: answers (method, params) -> (status, body),
     |                           records calls, keeps sent messages, injects faults.
     |                           Synchronous, no I/O; shared with tests/botapi_stub.py.
     +-- FakeBotAPI              + BaseRequest: the async seam PTB calls (optional latency).

Behaviour worth knowing (Telegram does the same, so the bot must cope):

* ``parse_mode=HTML`` texts are checked with ``bot.i18n.check_telegram_html``; a bad tag or a
  raw ``<``/``>``/``&`` gives ``400 Bad Request: can't parse entities: ...`` (stricter than
  Telegram about a raw ``&``: any unescaped user text is a bug here).
* Empty or over-long (4096) texts, and ``callback_data`` over 64 bytes, are refused with 400.
* Editing a message the fake sent, with exactly the same text and keyboard, gives
  ``400 Bad Request: message is not modified``.  Edits of messages the fake never saw (e.g. a
  callback update a test built by hand) are accepted.
* Methods the fake does not know return HTTP 501 (PTB raises ``NetworkError``) and are listed
  in ``unknown_calls``; the ``fake_api`` fixture fails the test if any happened.
* ``getUpdates`` serves ``push_update()``-ed updates like Telegram: those with ``update_id >=
  offset`` until a later ``offset`` confirms them.

Update builders (``make_text_update`` and friends) return dicts for
``telegram.Update.de_json(data, bot)``.
"""

from __future__ import annotations

import asyncio
import copy
import html
import itertools
import json
import re
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from telegram.ext import Application, ApplicationBuilder
from telegram.request import BaseRequest, RequestData

from bot.i18n import check_telegram_html

__all__ = [
    "BOT_ID",
    "BOT_USERNAME",
    "TOKEN",
    "FakeBotAPI",
    "FakeTelegram",
    "UploadedFile",
    "build_application",
    "make_callback_update",
    "make_command_update",
    "make_contact_update",
    "make_text_update",
]

TOKEN = "123:TEST"
BOT_ID = 123
BOT_USERNAME = "restructure_test_bot"

MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
#: Calls that put or change a text message in a chat (what ``sent_messages`` returns).
MESSAGE_METHODS = frozenset({"sendMessage", "editMessageText", "editMessageReplyMarkup"})

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    429: "Too Many Requests: retry after {retry_after}",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


@dataclass(frozen=True)
class UploadedFile:
    """A file PTB uploaded with multipart/form-data (recorded in the call's params)."""

    filename: str | None
    content: bytes
    mime_type: str | None


@dataclass
class _Fault:
    error_code: int
    description: str
    retry_after: int | None
    exception: BaseException | None
    times: int


class _BadRequest(Exception):
    """Raised inside a method handler; becomes a 400 answer."""


def _plain_text(text: str, parse_mode: str | None) -> str:
    """What the user sees: HTML tags removed and entities decoded when parse_mode is HTML."""
    if parse_mode and parse_mode.upper() == "HTML":
        return html.unescape(re.sub(r"<[^<>]*>", "", text))
    return text


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _same_chat(a: Any, b: Any) -> bool:
    return a is not None and b is not None and str(a) == str(b)


def _buttons(markup: Any) -> list[list[tuple[str, Any]]]:
    """Rows of ``(text, value)``: value is callback_data (or url, ...) for inline buttons, the
    request kind (``"request_contact"``, ``"request_location"``) or None for reply buttons."""
    if not isinstance(markup, dict):
        return []
    if "inline_keyboard" in markup:
        rows = []
        for row in markup["inline_keyboard"]:
            cells = []
            for button in row:
                value = next(
                    (
                        button[field]
                        for field in ("callback_data", "url", "switch_inline_query", "web_app")
                        if field in button
                    ),
                    None,
                )
                cells.append((button["text"], value))
            rows.append(cells)
        return rows
    if "keyboard" in markup:
        rows = []
        for row in markup["keyboard"]:
            cells = []
            for button in row:
                if isinstance(button, str):
                    cells.append((button, None))
                    continue
                kind = next((k for k in ("request_contact", "request_location") if button.get(k)), None)
                cells.append((button["text"], kind))
            rows.append(cells)
        return rows
    return []


class FakeTelegram:
    """The Bot API model.  ``handle(method, params)`` answers one call as Telegram would and
    returns ``(http_status, body_dict)``.  All state lives on the instance."""

    def __init__(
        self,
        *,
        bot_id: int = BOT_ID,
        username: str = BOT_USERNAME,
        first_name: str = "Restructure Test Bot",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot_user = {
            "id": bot_id,
            "is_bot": True,
            "first_name": first_name,
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self.clock = clock
        #: Every call received, in order, including failed and unknown ones.
        self.calls: list[tuple[str, dict[str, Any]]] = []
        #: Calls answered with an error: (method, params, error_code or exception name).
        self.failed_calls: list[tuple[str, dict[str, Any], Any]] = []
        #: Calls to methods this fake does not implement.
        self.unknown_calls: list[tuple[str, dict[str, Any]]] = []
        self._delivered: list[tuple[str, dict[str, Any]]] = []
        self._messages: dict[tuple[str, int], dict[str, Any]] = {}
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._commands: dict[str, list[dict[str, Any]]] = {}
        self.webhook_url = ""

    # ------------------------------------------------------------------ test helpers

    def fail_next(
        self,
        method: str,
        *,
        error_code: int = 429,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
        exception: BaseException | None = None,
    ) -> None:
        """Make the next ``times`` calls of ``method`` fail.

        By default with the Bot API error JSON ``{"ok": false, "error_code": ..., "description":
        ..., "parameters": {"retry_after": N}}`` under HTTP ``error_code``, so PTB raises what it
        would for real: 429 -> ``RetryAfter`` (retry_after defaults to 1), 403 -> ``Forbidden``,
        400 -> ``BadRequest``, 409 -> ``Conflict``, 5xx -> ``NetworkError``.  With
        ``exception`` (e.g. ``telegram.error.TimedOut()``) the request raises it instead: PTB
        passes a ``TelegramError`` on unchanged and wraps anything else in ``NetworkError``.
        """
        if error_code == 429 and retry_after is None and exception is None:
            retry_after = 1
        if description is None:
            description = _DEFAULT_DESCRIPTIONS.get(error_code, f"Error {error_code}").format(retry_after=retry_after)
        self._faults[method].append(_Fault(error_code, description, retry_after, exception, times))

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for ``getUpdates``; assigns ``update_id`` if missing.  Returns it."""
        update = dict(update)
        if "update_id" not in update:
            update["update_id"] = next(self._update_ids)
        self._updates.append(update)
        return update["update_id"]

    def has_updates(self, offset: int | None = None) -> bool:
        return any(offset is None or u["update_id"] >= offset for u in self._updates)

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        """Params of every call to ``method``, in order."""
        return [params for name, params in self.calls if name == method]

    def sent_messages(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """Successful sendMessage / editMessageText / editMessageReplyMarkup calls (optionally
        for one chat), in order: each is the call's params plus ``"method"``."""
        return [
            {**params, "method": method}
            for method, params in self._delivered
            if method in MESSAGE_METHODS and (chat_id is None or _same_chat(params.get("chat_id"), chat_id))
        ]

    def last_message(self, chat_id: int | str) -> dict[str, Any]:
        sent = self.sent_messages(chat_id)
        if not sent:
            raise AssertionError(f"no message was sent to chat {chat_id}; calls: {self.methods()}")
        return sent[-1]

    def last_text(self, chat_id: int | str) -> str:
        """The text (as sent, with its HTML) of the last sendMessage/editMessageText to a chat."""
        for params in reversed(self.sent_messages(chat_id)):
            if "text" in params:
                return params["text"]
        raise AssertionError(f"no text was sent to chat {chat_id}; calls: {self.methods()}")

    def last_buttons(self, chat_id: int | str) -> list[list[tuple[str, Any]]]:
        """Keyboard of the last message sent or edited in a chat, as rows of ``(text, value)``
        (see ``_buttons``); ``[]`` if that message had none."""
        return _buttons(self.last_message(chat_id).get("reply_markup"))

    def message(self, chat_id: int | str, message_id: int) -> dict[str, Any]:
        """The current state of a message the fake sent (a Bot API Message dict)."""
        return copy.deepcopy(self._messages[(str(chat_id), message_id)])

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    def clear(self) -> None:
        """Forget the recorded calls.  Sent messages' state, queued updates and pending
        faults are kept (they are Telegram's state, not the test's record)."""
        self.calls.clear()
        self.failed_calls.clear()
        self.unknown_calls.clear()
        self._delivered.clear()

    # ------------------------------------------------------------------ the API

    def handle(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer one Bot API call: ``(http_status, {"ok": ..., ...})``.  May raise the
        exception of a fault injected with ``fail_next(..., exception=...)``."""
        self.calls.append((method, params))
        fault = self._take_fault(method)
        if fault is not None:
            if fault.exception is not None:
                self.failed_calls.append((method, params, type(fault.exception).__name__))
                raise fault.exception
            self.failed_calls.append((method, params, fault.error_code))
            body = self._error(fault.error_code, fault.description, fault.retry_after)
            return fault.error_code, body

        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            self.unknown_calls.append((method, params))
            description = f"FakeBotAPI does not implement Bot API method {method!r}"
            self.failed_calls.append((method, params, 501))
            return 501, self._error(501, description)
        try:
            result = handler(params)
        except _BadRequest as exc:
            self.failed_calls.append((method, params, 400))
            return 400, self._error(400, f"Bad Request: {exc}")
        self._delivered.append((method, params))
        return 200, {"ok": True, "result": result}

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method)
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        return fault

    @staticmethod
    def _error(code: int, description: str, retry_after: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return body

    # ------------------------------------------------------------------ building results

    @staticmethod
    def _chat(chat_id: Any) -> dict[str, Any]:
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            return {"id": -1001, "type": "channel", "title": chat_id, "username": chat_id[1:]}
        chat_id = int(chat_id)
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Borrower"}
        return {"id": chat_id, "type": "supergroup", "title": "Group"}

    @staticmethod
    def _require(params: dict[str, Any], *names: str) -> None:
        for name in names:
            if params.get(name) in (None, ""):
                raise _BadRequest(f"{name} is empty")

    def _check_text(self, text: Any, parse_mode: str | None, what: str = "message text") -> str:
        if not isinstance(text, str) or not text.strip():
            raise _BadRequest(f"{what} is empty")
        if parse_mode and parse_mode.upper() == "HTML":
            problems = check_telegram_html(text)
            if problems:
                raise _BadRequest(f"can't parse entities: {problems[0]}")
        plain = _plain_text(text, parse_mode)
        if not plain.strip():
            raise _BadRequest(f"{what} is empty")
        if _utf16_len(plain) > MAX_TEXT_LENGTH:
            raise _BadRequest("message is too long")
        return plain

    @staticmethod
    def _check_markup(markup: Any) -> None:
        if not isinstance(markup, dict):
            return
        for row in markup.get("inline_keyboard", []):
            for button in row:
                if not button.get("text"):
                    raise _BadRequest("text buttons are unallowed in the inline keyboard")
                data = button.get("callback_data")
                if data is not None and len(str(data).encode()) > MAX_CALLBACK_DATA_BYTES:
                    raise _BadRequest("BUTTON_DATA_INVALID")

    def _caption(self, params: dict[str, Any]) -> str:
        return self._check_text(params["caption"], params.get("parse_mode"), "caption")

    def _new_message(self, params: dict[str, Any], **content: Any) -> dict[str, Any]:
        message = {
            "message_id": next(self._message_ids),
            "date": int(self.clock()),
            "chat": self._chat(params["chat_id"]),
            "from": dict(self.bot_user),
            **content,
        }
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:  # only inline ones are kept
            message["reply_markup"] = copy.deepcopy(markup)
        self._messages[(str(params["chat_id"]), message["message_id"])] = {
            **message,
            "_raw_text": params.get("text"),
            "_raw_markup": copy.deepcopy(params.get("reply_markup")),
        }
        return message

    @staticmethod
    def _public(message: dict[str, Any]) -> dict[str, Any]:
        return {k: copy.deepcopy(v) for k, v in message.items() if not k.startswith("_")}

    def _edit(self, params: dict[str, Any], *, text: str | None) -> dict[str, Any] | bool:
        if params.get("inline_message_id"):
            return True
        self._require(params, "chat_id", "message_id")
        key = (str(params["chat_id"]), int(params["message_id"]))
        markup = params.get("reply_markup")
        self._check_markup(markup)
        stored = self._messages.get(key)
        if stored is None:  # a message this fake never sent: accept the edit
            stored = {
                "message_id": key[1],
                "date": int(self.clock()),
                "chat": self._chat(params["chat_id"]),
                "from": dict(self.bot_user),
                "_raw_text": None,
                "_raw_markup": None,
            }
        else:
            new_text = stored["_raw_text"] if text is None else text
            if new_text == stored["_raw_text"] and markup == stored["_raw_markup"]:
                raise _BadRequest(
                    "message is not modified: specified new message content and reply markup "
                    "are exactly the same as a content and reply markup of the current message"
                )
        if text is not None:
            stored["text"] = self._check_text(text, params.get("parse_mode"))
            stored["_raw_text"] = text
        stored["_raw_markup"] = copy.deepcopy(markup)
        stored.pop("reply_markup", None)
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            stored["reply_markup"] = copy.deepcopy(markup)
        stored["edit_date"] = int(self.clock())
        self._messages[key] = stored
        return self._public(stored)

    def _file(self, value: Any, prefix: str) -> dict[str, Any]:
        number = next(self._file_ids)
        info: dict[str, Any] = {
            "file_id": f"{prefix}{number}",
            "file_unique_id": f"u{prefix}{number}",
        }
        if isinstance(value, UploadedFile):
            info["file_size"] = len(value.content)
            if value.filename:
                info["file_name"] = value.filename
            if value.mime_type:
                info["mime_type"] = value.mime_type
        return info

    # ------------------------------------------------------------------ methods

    def _api_getMe(self, params):
        return dict(self.bot_user)

    def _api_sendMessage(self, params):
        self._require(params, "chat_id")
        plain = self._check_text(params.get("text"), params.get("parse_mode"))
        self._check_markup(params.get("reply_markup"))
        return self._public(self._new_message(params, text=plain))

    def _api_editMessageText(self, params):
        self._require(params, "text")
        return self._edit(params, text=params["text"])

    def _api_editMessageReplyMarkup(self, params):
        return self._edit(params, text=None)

    def _api_deleteMessage(self, params):
        self._require(params, "chat_id", "message_id")
        self._messages.pop((str(params["chat_id"]), int(params["message_id"])), None)
        return True

    def _api_sendDocument(self, params):
        self._require(params, "chat_id", "document")
        content: dict[str, Any] = {"document": self._file(params["document"], "DOC")}
        if params.get("caption"):
            content["caption"] = self._caption(params)
        return self._public(self._new_message(params, **content))

    def _api_sendPhoto(self, params):
        self._require(params, "chat_id", "photo")
        photo = {**self._file(params["photo"], "PHOTO"), "width": 800, "height": 600}
        content: dict[str, Any] = {"photo": [photo]}
        if params.get("caption"):
            content["caption"] = self._caption(params)
        return self._public(self._new_message(params, **content))

    def _api_answerCallbackQuery(self, params):
        self._require(params, "callback_query_id")
        if len(params.get("text") or "") > 200:
            raise _BadRequest("MESSAGE_TOO_LONG")
        return True

    def _api_sendChatAction(self, params):
        self._require(params, "chat_id", "action")
        return True

    @staticmethod
    def _commands_key(params) -> str:
        return json.dumps([params.get("scope"), params.get("language_code")], sort_keys=True)

    def _api_setMyCommands(self, params):
        self._commands[self._commands_key(params)] = list(params.get("commands") or [])
        return True

    def _api_getMyCommands(self, params):
        return copy.deepcopy(self._commands.get(self._commands_key(params), []))

    def _api_deleteMyCommands(self, params):
        self._commands.pop(self._commands_key(params), None)
        return True

    def _api_getUpdates(self, params):
        offset = params.get("offset")
        if offset is not None:
            offset = int(offset)
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        limit = int(params.get("limit") or 100)
        return copy.deepcopy(self._updates[:limit])

    def _api_deleteWebhook(self, params):
        self.webhook_url = ""
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_setWebhook(self, params):
        self._require(params, "url")
        self.webhook_url = params["url"]
        if params.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _api_getWebhookInfo(self, params):
        return {
            "url": self.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    def _api_close(self, params):
        return True

    def _api_logOut(self, params):
        return True


class FakeBotAPI(FakeTelegram, BaseRequest):
    """A ``telegram.request.BaseRequest`` answering in-process (see the module docstring).

    ``latency`` seconds are awaited before every answer; an empty ``getUpdates`` waits up to
    ``min(timeout, poll_wait)`` seconds so a running Updater does not spin.
    """

    def __init__(self, *, latency: float = 0.0, poll_wait: float = 0.05, **kwargs: Any) -> None:
        FakeTelegram.__init__(self, **kwargs)
        self.latency = latency
        self.poll_wait = poll_wait
        self.initialized = False

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        self.initialized = True

    async def shutdown(self) -> None:
        self.initialized = False

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        api_method = url.rstrip("/").rsplit("/", 1)[-1]
        params = self._params(request_data)
        if self.latency:
            await asyncio.sleep(self.latency)
        if api_method == "getUpdates" and not self.has_updates(params.get("offset")):
            timeout = params.get("timeout") or 0
            if isinstance(timeout, int | float) and timeout > 0:
                await asyncio.sleep(min(float(timeout), self.poll_wait))
        status, body = self.handle(api_method, params)
        return status, json.dumps(body).encode()

    @staticmethod
    def _params(request_data: RequestData | None) -> dict[str, Any]:
        if request_data is None:
            return {}
        params = dict(request_data.parameters)
        for name, field in request_data.multipart_data.items():
            filename, content, mime_type = field
            if hasattr(content, "read"):
                content = content.read()
            params[name] = UploadedFile(filename, content, mime_type)
        return params


def build_application(
    fake: FakeBotAPI,
    *,
    token: str = TOKEN,
    configure: Callable[[ApplicationBuilder], Any] | None = None,
) -> Application:
    """A real PTB ``Application`` whose every request goes to ``fake`` (not initialized).
    ``configure(builder)`` may set more builder options (defaults, persistence, ...)."""
    builder = ApplicationBuilder().token(token).request(fake).get_updates_request(fake)
    if configure is not None:
        configure(builder)
    return builder.build()


# ---------------------------------------------------------------------- update builders


def _user(user_id: int, first_name: str, language_code: str | None, last_name: str | None = None):
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name:
        user["last_name"] = last_name
    if language_code:
        user["language_code"] = language_code
    return user


def _private_chat(chat_id: int, first_name: str) -> dict[str, Any]:
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": first_name}
    return {"id": chat_id, "type": "supergroup", "title": "Group"}


def _message_update(
    update_id: int,
    chat_id: int,
    user_id: int,
    *,
    first_name: str,
    language_code: str | None,
    message_id: int | None,
    date: int | None,
    **content: Any,
) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id if message_id is None else message_id,
            "date": int(time.time()) if date is None else date,
            "chat": _private_chat(chat_id, first_name),
            "from": _user(user_id, first_name, language_code),
            **content,
        },
    }


def make_text_update(
    update_id: int,
    chat_id: int,
    user_id: int,
    text: str,
    *,
    language_code: str | None = "zh-hans",
    first_name: str = "Borrower",
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A private-chat text message (``message_id`` defaults to ``update_id``)."""
    return _message_update(
        update_id,
        chat_id,
        user_id,
        first_name=first_name,
        language_code=language_code,
        message_id=message_id,
        date=date,
        text=text,
    )


def make_command_update(
    update_id: int,
    chat_id: int,
    user_id: int,
    command: str,
    args: str | Iterable[str] = "",
    *,
    language_code: str | None = "zh-hans",
    first_name: str = "Borrower",
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """``/command args`` with its ``bot_command`` entity, e.g. ``("start", "TOKEN")`` for a
    deep link.  ``command`` may be given with or without the slash."""
    name = "/" + command.lstrip("/")
    args = args if isinstance(args, str) else " ".join(args)
    text = f"{name} {args}" if args else name
    entity = {"type": "bot_command", "offset": 0, "length": _utf16_len(name)}
    return _message_update(
        update_id,
        chat_id,
        user_id,
        first_name=first_name,
        language_code=language_code,
        message_id=message_id,
        date=date,
        text=text,
        entities=[entity],
    )


def make_contact_update(
    update_id: int,
    chat_id: int,
    user_id: int,
    phone: str,
    contact_user_id: int | None,
    *,
    language_code: str | None = "zh-hans",
    first_name: str = "Borrower",
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A shared contact.  Sharing one's own contact has ``contact_user_id == user_id``;
    a forwarded stranger's contact has another id (or None)."""
    contact: dict[str, Any] = {"phone_number": phone, "first_name": first_name}
    if contact_user_id is not None:
        contact["user_id"] = contact_user_id
    return _message_update(
        update_id,
        chat_id,
        user_id,
        first_name=first_name,
        language_code=language_code,
        message_id=message_id,
        date=date,
        contact=contact,
    )


def make_callback_update(
    update_id: int,
    chat_id: int,
    user_id: int,
    data: str,
    message_id: int,
    *,
    message: dict[str, Any] | None = None,
    message_text: str = "…",
    language_code: str | None = "zh-hans",
    first_name: str = "Borrower",
    bot_id: int = BOT_ID,
) -> dict[str, Any]:
    """A button press on the bot's message ``message_id``.  Pass ``message=fake.message(chat,
    id)`` to attach the message exactly as the fake sent it (text and keyboard)."""
    if message is None:
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": _private_chat(chat_id, first_name),
            "from": {"id": bot_id, "is_bot": True, "first_name": "Bot", "username": BOT_USERNAME},
            "text": message_text,
        }
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cq{update_id}",
            "from": _user(user_id, first_name, language_code),
            "chat_instance": f"ci{chat_id}",
            "data": data,
            "message": message,
        },
    }
