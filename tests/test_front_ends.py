"""The two front ends as real processes: `restructure-bot run` against a local HTTP Bot API
stub, and `restructure-bot chat --demo` driven through its stdin to an accepted plan."""

from __future__ import annotations

import os
import subprocess
import sys

from botapi_stub import BotApiStub
from fakebot import TOKEN, make_command_update


def _env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update({"BOT_DATABASE": str(tmp_path / "bot.db"), "BOT_DEFAULT_LOCALE": "en", **extra})
    return env


def test_run_answers_start_through_a_bot_api_server(tmp_path):
    with BotApiStub(token=TOKEN) as stub:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"],
            cwd=tmp_path,
            env=_env(tmp_path, BOT_TOKEN=TOKEN, BOT_API_URL=stub.base_url),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        try:
            stub.push_update(make_command_update(1, 4242, 4242, "start", language_code="en"))
            sent = stub.wait_for("sendMessage", lambda p: str(p.get("chat_id")) == "4242", timeout=30)
            assert "repayment assistant" in sent["text"]
            assert "setMyCommands" in stub.methods()
        finally:
            process.terminate()
            process.wait(timeout=20)


def test_chat_demo_reaches_an_accepted_plan_through_stdin(tmp_path):
    answers = {  # by the question each answers, in the order they are asked (1: the first choice)
        "consent": "1",
        "identify_loan": "CC-1001",
        "identify_id": "1234",
        "loan": "1",
        "reason": "1",
        "outlook": "1",
        "recovery": "4",
        "income_after": "12000",
        "income": "9000",
        "income_kind": "1",
        "payment_day": "1",
        "expenses_mode": "1",
        "expenses_total": "5200",
        "other_debts": "800",
        "savings": "3000",
        "dependants": "1",
        "review": "8",
        "budget": "1",
        "options": "1",
        "confirm": "1",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "chat", "--demo", "--lang", "en"],
        cwd=tmp_path,
        input="\n".join(answers.values()) + "\n",
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "CC-1001" in result.stdout.splitlines()[1]  # the demo tells how to identify
    assert "Please read the terms of your plan" in result.stdout
    assert "Your plan is agreed" in result.stdout
    assert "Traceback" not in result.stderr
