"""The real `restructure-bot run` in a subprocess against a local Bot API stub, for the
crash-safety tests: started, SIGKILLed at random by a killer thread, and restarted."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

from fakebot import TOKEN

WEBHOOK_SECRET = "s3cret-Token_for-tests"


def bot_env(stub_url: str, database: Path, **extra: str) -> dict[str, str]:
    """The environment of the bot process: no BOT_* from the shell, the stub as Telegram."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(
        BOT_TOKEN=TOKEN,
        BOT_API_URL=stub_url,
        BOT_DATABASE=str(database),
        BOT_DEFAULT_LOCALE="en",
        NO_PROXY="127.0.0.1",
        **extra,
    )
    return env


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def webhook_args(port: int, path: str = "telegram/hook") -> list[str]:
    """`run` in webhook mode on 127.0.0.1:`port` (the secret comes from BOT_WEBHOOK_SECRET)."""
    return ["run", "--webhook-url", f"https://bot.example/{path}", "--listen", "127.0.0.1", "--port", str(port)]


def post_update(port: int, update: dict, secret: str | None = WEBHOOK_SECRET, path: str = "telegram/hook") -> int:
    """POST one update to the webhook as Telegram does (`secret` None: without the secret
    token header); the HTTP status, or 0 when nobody answered."""
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    url = f"http://127.0.0.1:{port}/{path}"
    request = urllib.request.Request(url, data=json.dumps(update).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:  # refused, reset, timed out: nobody answered
        return 0


class BotProcess:
    """`restructure-bot run ARGS` that a killer thread SIGKILLs at random; `ensure_running` restarts it."""

    def __init__(self, env: dict[str, str], cwd, args: list[str] | None = None, *, stderr=subprocess.DEVNULL) -> None:
        self.env, self.cwd, self.args, self.stderr = env, cwd, args or ["run"], stderr
        self.process: subprocess.Popen | None = None
        self.kills = 0
        self.starts = 0
        self.lock = threading.Lock()

    def ensure_running(self) -> None:
        with self.lock:
            if self.process is None or self.process.poll() is not None:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "bot", *self.args],
                    cwd=self.cwd,
                    env=self.env,
                    stdout=subprocess.DEVNULL,
                    stderr=self.stderr,
                )
                self.starts += 1

    def alive(self) -> bool:
        with self.lock:
            return self.process is not None and self.process.poll() is None

    def kill(self) -> bool:
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                self.process.send_signal(signal.SIGKILL)
                self.process.wait()
                self.kills += 1
                return True
            return False

    def stop(self) -> int | None:
        """SIGTERM and wait: the exit status (0 after a clean shutdown)."""
        with self.lock:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                return self.process.wait(timeout=20)
            return self.process.returncode if self.process else None
