"""A Telegram Bot API over real HTTP on 127.0.0.1, for tests that run the bot in a subprocess.

Point the bot at it with ``base_url`` (PTB: ``ApplicationBuilder().base_url(stub.base_url)`` or
``Bot(token, base_url=stub.base_url)``), push updates, and wait for its answers::

    with BotApiStub() as stub:
        proc = subprocess.Popen([...], env={..., "TELEGRAM_BASE_URL": stub.base_url})
        stub.push_update(make_command_update(1, 42, 42, "start"))
        reply = stub.wait_for("sendMessage", lambda p: p["chat_id"] == 42)

The answers come from ``fakebot.FakeTelegram`` (the same model as the in-process fake:
realistic Message results, HTML checks, ``fail_next`` fault injection); this module adds the
HTTP server, thread safety and long polling:

* ``getUpdates`` serves queued updates with ``update_id >= offset`` (an ``offset`` confirms
  and drops the earlier ones, as Telegram does, so a well-behaved client sees each update
  once and a client that crashed before confirming sees it again).  With nothing queued it
  waits up to ``min(timeout, max_poll_wait)`` (0.5 s) for a ``push_update``.
* Bodies may be form-encoded (what PTB sends), multipart (files) or JSON.  Form values are
  JSON-decoded (PTB JSON-encodes every non-string value) except free-text fields such as
  ``text`` and ``caption``, so ``chat_id`` arrives as an int and ``reply_markup`` as a dict.
* ``fail_next(method, ..., exception=...)`` drops the connection without an answer (PTB
  raises ``NetworkError``); the other faults answer with Bot API error JSON.
* Every call is recorded in ``calls``; ``wait_for`` hands each recorded call out at most
  once, oldest first, so successive waits follow the conversation.

The server binds an ephemeral port on 127.0.0.1.  If the environment sets HTTP(S)_PROXY,
give the bot process ``NO_PROXY=127.0.0.1`` (httpx honours proxy variables).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from fakebot import FakeTelegram, UploadedFile

__all__ = ["BotApiStub"]

#: Bot API parameters that are free text: never JSON-decoded ("123" stays a string).
STRING_PARAMS = frozenset(
    {
        "text",
        "caption",
        "parse_mode",
        "callback_query_id",
        "url",
        "secret_token",
        "inline_message_id",
        "description",
        "short_description",
        "name",
        "title",
        "query",
        "emoji",
        "language_code",
        "action",
        "ip_address",
        "business_connection_id",
    }
)


def _decode_value(name: str, value: str) -> Any:
    if name in STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def _parse_body(content_type: str, body: bytes, query: str) -> dict[str, Any]:
    params: dict[str, Any] = {k: _decode_value(k, v) for k, v in parse_qsl(query)}
    kind = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return params
    if kind == "application/json":
        decoded = json.loads(body.decode("utf-8"))
        if not isinstance(decoded, dict):
            raise ValueError("JSON body must be an object")
        params.update(decoded)
    elif kind == "application/x-www-form-urlencoded":
        text = body.decode("utf-8")
        params.update({k: _decode_value(k, v) for k, v in parse_qsl(text, keep_blank_values=True)})
    elif kind == "multipart/form-data":
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not name:
                continue
            payload = part.get_payload(decode=True) or b""
            filename = part.get_filename()
            if filename is not None:
                params[name] = UploadedFile(filename, payload, part.get_content_type())
            else:
                charset = part.get_content_charset() or "utf-8"
                params[name] = _decode_value(name, payload.decode(charset))
    else:
        raise ValueError(f"unsupported Content-Type {content_type!r}")
    return params


class BotApiStub:
    """A threaded HTTP Bot API on ``127.0.0.1:<ephemeral port>``.  Use as a context manager
    (or ``start()`` / ``stop()``).  ``token`` (default: any) is checked when given."""

    def __init__(self, *, token: str | None = None, max_poll_wait: float = 0.5) -> None:
        self.api = FakeTelegram()
        self.token = token
        self.max_poll_wait = max_poll_wait
        self._cond = threading.Condition()
        self._calls: list[tuple[str, dict[str, Any]]] = []
        self._handed_out: set[int] = set()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> BotApiStub:
        stub = self

        class Handler(_Handler):
            owner = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="botapi-stub",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> BotApiStub:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("BotApiStub is not running")
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT/bot`` -- PTB appends the token and the method name."""
        return f"http://127.0.0.1:{self.port}/bot"

    # ------------------------------------------------------------------ test side

    def push_update(self, update: dict[str, Any]) -> int:
        """Queue an update for the bot's next ``getUpdates``; returns its ``update_id``."""
        with self._cond:
            update_id = self.api.push_update(update)
            self._cond.notify_all()
        return update_id

    def wait_for(
        self,
        method: str,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10,
    ) -> dict[str, Any]:
        """The params of the oldest call to ``method`` (matching ``predicate``) not yet handed
        out by ``wait_for``; waits up to ``timeout`` seconds for it, then TimeoutError."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for index, (name, params) in enumerate(self._calls):
                    if index in self._handed_out or name != method:
                        continue
                    if predicate is None or predicate(params):
                        self._handed_out.add(index)
                        return params
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [name for name, _ in self._calls if name != "getUpdates"]
                    raise TimeoutError(f"no matching {method} call within {timeout}s; calls so far: {seen}")
                self._cond.wait(remaining)

    @property
    def calls(self) -> list[tuple[str, dict[str, Any]]]:
        """A snapshot of every call received, in order."""
        with self._cond:
            return list(self._calls)

    def methods(self) -> list[str]:
        return [name for name, _ in self.calls]

    def fail_next(self, method: str, **kwargs: Any) -> None:
        """See ``FakeTelegram.fail_next``."""
        with self._cond:
            self.api.fail_next(method, **kwargs)

    def sent_messages(self, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        with self._cond:
            return self.api.sent_messages(chat_id)

    def last_text(self, chat_id: int | str) -> str:
        with self._cond:
            return self.api.last_text(chat_id)

    def last_buttons(self, chat_id: int | str) -> list[list[tuple[str, Any]]]:
        with self._cond:
            return self.api.last_buttons(chat_id)

    # ------------------------------------------------------------------ server side

    def _answer(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, dict]:
        with self._cond:
            self._calls.append((method, params))
            self._cond.notify_all()
            if self.token is not None and token != self.token:
                return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            if method == "getUpdates":
                self._wait_for_updates(params)
            try:
                return self.api.handle(method, params)
            except Exception as exc:  # an injected exception: the connection just drops
                raise ConnectionAbortedError(repr(exc)) from exc
            finally:
                self._cond.notify_all()

    def _wait_for_updates(self, params: dict[str, Any]) -> None:
        offset = params.get("offset")
        try:
            timeout = float(params.get("timeout") or 0)
        except (TypeError, ValueError):
            timeout = 0.0
        deadline = time.monotonic() + min(timeout, self.max_poll_wait)
        while not self.api.has_updates(offset):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._cond.wait(remaining)


class _Handler(BaseHTTPRequestHandler):
    owner: BotApiStub
    protocol_version = "HTTP/1.1"
    timeout = 10  # seconds an idle keep-alive connection is held
    # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm and
    # the client's delayed ACK hold each answer for ~40 ms on a kept-alive connection.
    disable_nagle_algorithm = True

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self._serve()

    def do_GET(self) -> None:  # noqa: N802
        self._serve()

    def _serve(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = url.path.strip("/").split("/")
        if len(parts) != 2 or not parts[0].startswith("bot") or not parts[1]:
            self._send(404, {"ok": False, "error_code": 404, "description": "Not Found"})
            return
        token, method = parts[0][3:], parts[1]
        try:
            params = _parse_body(self.headers.get("Content-Type", ""), body, url.query)
        except ValueError as exc:
            self._send(400, {"ok": False, "error_code": 400, "description": f"Bad Request: {exc}"})
            return
        try:
            status, answer = self.owner._answer(token, method, params)
        except ConnectionAbortedError:
            self.close_connection = True
            return
        self._send(status, answer)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        payload = json.dumps(body).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the bot went away mid long-poll
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep tests quiet
        pass
