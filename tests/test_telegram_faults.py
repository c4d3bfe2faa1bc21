"""Telegram misbehaving, through the real Application and the in-process fake Bot API over a
real SQLite file: RetryAfter (429), 5xx, timeouts, Forbidden and BadRequest ("message is not
modified", "can't parse entities", "message to edit not found") injected once at each kind of
call the bot makes -- sendMessage, answerCallbackQuery, sendPhoto, sendDocument,
setMyCommands.

Whatever fails: the borrower's progress is kept (the saved state holds every earlier answer,
and the turn counts once), the error is logged once (a warning where the call is cosmetic:
answering a press, the command menu), the borrower sees where they are, the same
Application keeps serving another chat, and doing the same thing again afterwards works.
With the rate limiter `restructure-bot run` uses (AIORateLimiter), a RetryAfter is waited
out and retried: nothing is lost or logged as an error.
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from datetime import timedelta

import pytest
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from borrower_chat import BorrowerChat, make_bot_app
from bot.tg.polling import run_polling
from bot.tg.send import retry_after
from fakebot import make_command_update
from fixtures import store_of
from plan_helpers import agree_a_plan

BORROWER, OTHER = 501, 601

#: name -> (fail_next arguments, the exception PTB raises)
FAULTS = {
    "retry_after": ({"error_code": 429, "retry_after": 1}, RetryAfter),
    "http_500": ({"error_code": 500}, NetworkError),
    "bad_gateway": ({"error_code": 502, "description": "Bad Gateway"}, NetworkError),
    "timeout": ({"exception": "TimedOut"}, TimedOut),
    "forbidden": ({"error_code": 403, "description": "Forbidden: bot was blocked by the user"}, Forbidden),
    "not_modified": (
        {
            "error_code": 400,
            "description": "Bad Request: message is not modified: specified new "
            "message content and reply markup are exactly the same",
        },
        BadRequest,
    ),
    "cant_parse": (
        {
            "error_code": 400,
            "description": 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 0',
        },
        BadRequest,
    ),
    "edit_not_found": ({"error_code": 400, "description": "Bad Request: message to edit not found"}, BadRequest),
}


def inject(fake, method: str, fault: str, times: int = 1) -> None:
    arguments = dict(FAULTS[fault][0])
    if arguments.get("exception") == "TimedOut":
        arguments["exception"] = TimedOut()
    fake.fail_next(method, times=times, **arguments)


async def open_app(fake, db_path, *, rate_limit: bool = False, initialize: bool = True):
    """The real Application over `db_path` in English, with or without the rate limiter."""
    return await make_bot_app(fake, db_path, default_locale="en", rate_limit=rate_limit, initialize=initialize)


def saved(app, chat_id: int = BORROWER) -> dict:
    return app.bot_data["conversations"].store.load_conversation(chat_id)["data"]


def errors(caplog) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.levelno >= logging.ERROR]


def assert_logged_once(caplog, exception_type) -> None:
    """An unexpected fault is one ERROR with its traceback; a RetryAfter (the rate limiter has
    already logged its retries) one WARNING; a blocked bot one WARNING, and no error."""
    if exception_type is Forbidden:
        assert not errors(caplog)
        assert len([r for r in caplog.records if "blocked the bot" in r.getMessage()]) == 1
        return
    if exception_type is RetryAfter:
        assert not errors(caplog)
        assert len([r for r in caplog.records if "slow down" in r.getMessage()]) == 1
        return
    logged = errors(caplog)
    assert len(logged) == 1, [r.getMessage() for r in logged]
    assert logged[0].exc_info and isinstance(logged[0].exc_info[1], exception_type), logged[0].exc_info


async def other_chat_is_served(app, fake) -> None:
    other = BorrowerChat(app, fake, chat_id=OTHER, user_id=OTHER)
    sent = len(fake.sent_messages(OTHER))
    await other.say("/start")
    texts = other.texts_since(sent)
    assert any("your privacy" in text for text in texts), texts
    assert [label for row in fake.last_buttons(OTHER) for label, _ in row] == ["I agree", "I do not agree"]


#: The demo borrower's typed answers, by the step that asks for each.
INCOME = {"recovery": "4", "income_after": "12000", "income": "9000"}
SPENDING = {"expenses_total": "5200", "other_debts": "800", "savings": "3000", "dependants": "1"}


async def answer_asked(chat: BorrowerChat, answers: dict[str, str]) -> None:
    """Answer each question the chat is asked, by the step asking it, while `answers` has one."""
    left = dict(answers)
    while (step := store_of(chat).load_conversation(chat.chat_id)["step"]) in left:
        await chat.say(left.pop(step))


async def to_budget(chat: BorrowerChat, loan: str = "CC-1001", last4: str = "1234") -> None:
    await to_expenses_total(chat, loan, last4)
    await answer_asked(chat, SPENDING)
    await chat.press("All correct")


async def to_expenses_total(chat: BorrowerChat, loan: str = "CC-1001", last4: str = "1234") -> None:
    await chat.say("/start")
    await chat.press("I agree")
    await chat.say(loan)
    await chat.say(last4)
    await chat.press("Continue")
    await chat.press("Lost my job")
    await chat.press("Temporary")
    await answer_asked(chat, INCOME)
    await chat.press("Salary")
    await chat.say("15")  # the payday
    await chat.press("One total")


@pytest.fixture
async def borrower(fake_api, tmp_path):
    app, store = await open_app(fake_api, tmp_path / "bot.db")
    yield BorrowerChat(app, fake_api, chat_id=BORROWER, user_id=BORROWER)
    await app.shutdown()
    store.close()


# ---------------------------------------------------------------------------- a button press


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_fault_sending_the_options(borrower, fake_api, caplog, fault):
    """ "Show me the plans" commits the turn, then sending the options fails: the error is logged
    once, the borrower is told their answers are saved and, where Telegram lets us, gets the
    options again; pressing again shows them."""
    await to_budget(borrower)
    before = saved(borrower.app)
    show = borrower.button_data("Show me the plans")
    caplog.clear()
    sent = len(fake_api.sent_messages(BORROWER))
    inject(fake_api, "sendMessage", fault)
    await borrower.press_data(show)

    assert_logged_once(caplog, FAULTS[fault][1])
    after = saved(borrower.app)
    assert after["data"] == before["data"] and after["loan_id"] == "CC-1001"
    assert after["step"] == "options"  # the press counted once
    texts = borrower.texts_since(sent)
    if fault != "forbidden":
        assert "Sorry, something went wrong" in texts[0] and "Plans you can choose from" in texts[-1]
        apology = next(m for m in fake_api.sent_messages(BORROWER)[sent:] if "Sorry" in m.get("text", ""))
        assert apology["parse_mode"] == "HTML"  # an HTML key, like every message but buttons and files
    await other_chat_is_served(borrower.app, fake_api)

    caplog.clear()
    sent = len(fake_api.sent_messages(BORROWER))
    await borrower.press_data(show)  # the same button again
    assert "Plans you can choose from" in borrower.texts_since(sent)[-1]
    final = saved(borrower.app)
    assert final["step"] == "options" and final["data"] == before["data"] and final["options"]
    assert "Choose 1" in borrower.labels and not errors(caplog)


@pytest.mark.parametrize("fault", [*FAULTS, "query_too_old"])
async def test_a_failed_callback_answer_does_not_drop_the_press(borrower, fake_api, caplog, fault):
    """Answering the press is cosmetic (it stops the button's spinner): when Telegram refuses
    it, the press still counts (once), the refusal is noted once as a warning, and nothing else
    changes -- pressing again is simply a stale button that shows where the borrower is."""
    method = "answerCallbackQuery"
    await to_budget(borrower)
    before = saved(borrower.app)
    show = borrower.button_data("Show me the plans")
    caplog.clear()
    if fault == "query_too_old":  # Telegram's answer to a press handled too late
        fake_api.fail_next(
            method,
            error_code=400,
            description="Bad Request: query is too old and response timeout expired or query id is invalid",
        )
    else:
        inject(fake_api, method, fault)
    await borrower.press_data(show)

    assert "Plans you can choose from" in borrower.text
    after = saved(borrower.app)
    assert after["step"] == "options" and after["data"] == before["data"] and after["options"]
    assert not errors(caplog)
    noted = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(noted) == 1 and "answer the button press" in noted[0].getMessage(), [r.getMessage() for r in noted]
    await other_chat_is_served(borrower.app, fake_api)
    sent = len(fake_api.sent_messages(BORROWER))
    await borrower.press_data(show)  # the same button again: counted once only
    texts = borrower.texts_since(sent)
    assert "no longer active" in texts[0] and "Plans you can choose from" in texts[-1]
    assert saved(borrower.app)["step"] == "options"


# ---------------------------------------------------------------------------- a typed answer


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_fault_sending_the_next_question_after_a_typed_answer(borrower, fake_api, caplog, fault):
    """The answer is saved; the next question is sent again after the apology, so the borrower
    sees where they are and their next answer goes where they think it goes."""
    await to_expenses_total(borrower)
    before = saved(borrower.app)
    caplog.clear()
    blocked = fault == "forbidden"
    inject(fake_api, "sendMessage", fault)  # blocked: no apology is even attempted
    await borrower.say("5200")

    assert_logged_once(caplog, FAULTS[fault][1])
    after = saved(borrower.app)
    for name, value in before["data"].items():  # every earlier answer kept
        if name != "expenses_total":
            assert after["data"][name] == value, name
    assert after["data"]["expenses_total"] == "5200.00" and after["step"] == "other_debts"
    await other_chat_is_served(borrower.app, fake_api)

    if blocked:  # the borrower unblocks the bot and carries on where the conversation is
        sent = len(fake_api.sent_messages(BORROWER))
        await borrower.say("/help")
        assert "other debts" in borrower.texts_since(sent)[-1]
        return
    assert "other debts" in borrower.text  # the question they now answer
    await borrower.say("800")
    final = saved(borrower.app)
    assert final["data"]["expenses_total"] == "5200.00" and final["data"]["other_debts"] == "800.00"


# ---------------------------------------------------------------------------- files


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("method", ["sendPhoto", "sendDocument"])
async def test_a_fault_sending_the_schedule_files(borrower, fake_api, caplog, method, fault):
    plan_id = await agree_a_plan(borrower)
    store = borrower.app.bot_data["conversations"].store
    before, instalments = saved(borrower.app), store.plan_installments(plan_id)
    caplog.clear()
    inject(fake_api, method, fault)
    await borrower.say("/schedule")

    assert_logged_once(caplog, FAULTS[fault][1])
    assert saved(borrower.app) == before and store.plan_installments(plan_id) == instalments
    assert store.active_plan_for_loan("CC-1001")["id"] == plan_id
    await other_chat_is_served(borrower.app, fake_api)

    caplog.clear()
    fake_api.clear()
    await borrower.say("/schedule")
    calls = [method for method, params in fake_api.calls if params.get("chat_id") == BORROWER]
    assert calls == ["sendMessage", "sendPhoto", "sendDocument"] and not fake_api.failed_calls
    assert f"Schedule of plan #{plan_id}" in borrower.text
    assert not errors(caplog)


# ---------------------------------------------------------------------------- the command menu at start-up


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_fault_setting_the_command_menu_does_not_stop_the_bot(fake_api, tmp_path, caplog, monkeypatch, fault):
    """`run` (long polling) with AIORateLimiter, as in production: the bot must come up and
    answer whatever setMyCommands does."""
    app, store = await open_app(fake_api, tmp_path / "bot.db", rate_limit=True, initialize=False)
    stoppers = []
    loop = asyncio.get_running_loop()
    monkeypatch.setattr(loop, "add_signal_handler", lambda signum, callback, *args: stoppers.append(callback))
    inject(fake_api, "setMyCommands", fault)
    fake_api.push_update(make_command_update(7001, BORROWER, BORROWER, "start", language_code="en"))
    running = asyncio.ensure_future(run_polling(app))  # what `restructure-bot run` runs
    try:
        deadline = time.monotonic() + 15
        while not any("your privacy" in m.get("text", "") for m in fake_api.sent_messages(BORROWER)):
            assert not running.done(), f"the bot stopped: {running.exception()!r}"
            assert time.monotonic() < deadline, fake_api.methods()
            await asyncio.sleep(0.05)
        assert len(fake_api.calls_to("setMyCommands")) >= 3  # zh, en and the default menu, tried
        assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) <= 1
    finally:
        if not running.done():
            stoppers[0]()  # what SIGTERM does
            await asyncio.wait_for(running, 15)
        store.close()


# ---------------------------------------------------------------------------- RetryAfter with the rate limiter

BUDGET = 602  # a second borrower (CL-2002), at the budget step


@pytest.fixture
async def limited(fake_api, tmp_path):
    """On an Application with AIORateLimiter(max_retries=3), as `restructure-bot run` builds it:
    BORROWER with an agreed plan, BUDGET at the budget step. The conversations are driven
    without the limiter first (it would pace them), then the file is reopened with it."""
    app, store = await open_app(fake_api, tmp_path / "bot.db")
    await agree_a_plan(BorrowerChat(app, fake_api, chat_id=BORROWER, user_id=BORROWER))
    await to_budget(BorrowerChat(app, fake_api, chat_id=BUDGET, user_id=BUDGET), "CL-2002", "567X")
    await app.shutdown()
    store.close()
    app, store = await open_app(fake_api, tmp_path / "bot.db", rate_limit=True)
    yield app
    await app.shutdown()
    store.close()


@pytest.mark.parametrize("method", ["answerCallbackQuery", "sendMessage", "sendPhoto", "sendDocument"])
async def test_retry_after_is_waited_out_and_retried_by_the_rate_limiter(limited, fake_api, caplog, method):
    files = method in ("sendPhoto", "sendDocument")
    chat_id = BORROWER if files else BUDGET
    chat = BorrowerChat(limited, fake_api, chat_id=chat_id, user_id=chat_id)
    before = saved(limited, chat_id)
    show = None if files else chat.button_data("Show me the plans")
    fake_api.clear()
    caplog.set_level(logging.INFO, logger="telegram.ext.AIORateLimiter")
    caplog.clear()
    inject(fake_api, method, "retry_after")
    started = time.monotonic()
    if files:
        await chat.say("/schedule")
    else:
        await chat.press_data(show)
    waited = time.monotonic() - started

    assert waited >= 1.0  # Telegram said: retry after 1 s
    assert [m for m, _, _ in fake_api.failed_calls] == [method]
    assert not errors(caplog)
    assert any("Retrying after" in r.getMessage() for r in caplog.records)
    calls = [m for m, p in fake_api.calls if str(p.get("chat_id")) == str(chat_id) and m != "answerCallbackQuery"]
    expected = ["sendMessage", "sendPhoto", "sendDocument"] if files else ["sendMessage"]
    if method in expected:
        expected.insert(expected.index(method) + 1, method)
    assert calls == expected  # the failed call once more, then on as if nothing happened
    if method == "answerCallbackQuery":
        assert fake_api.methods().count("answerCallbackQuery") == 2
    if files:
        assert saved(limited, chat_id) == before and "Schedule of plan #" in chat.text
    else:
        assert saved(limited, chat_id)["step"] == "options" and saved(limited, chat_id)["data"] == before["data"]
        assert "Plans you can choose from" in chat.text
    assert all("Sorry, something went wrong" not in m.get("text", "") for m in fake_api.sent_messages(chat_id))


async def test_while_one_chat_waits_out_a_retry_after_the_others_are_served(limited, fake_api, caplog):
    borrower = BorrowerChat(limited, fake_api, chat_id=BUDGET, user_id=BUDGET)
    show = borrower.button_data("Show me the plans")
    fake_api.clear()
    inject(fake_api, "sendMessage", "retry_after")
    others = [BorrowerChat(limited, fake_api, chat_id=900 + n, user_id=900 + n) for n in range(3)]
    await asyncio.gather(borrower.press_data(show), *(other.say("/start") for other in others))
    assert "Plans you can choose from" in borrower.text and saved(limited, BUDGET)["step"] == "options"
    for other in others:
        assert any("your privacy" in text for text in other.texts_since(0))
    assert len(fake_api.failed_calls) == 1 and not errors(caplog)


@pytest.mark.parametrize("asked", [30, timedelta(seconds=1.5)])
def test_how_long_telegram_asked_to_wait_is_read_without_a_deprecation_warning(asked):
    """Every sender (polling, reminders, broadcasts, the support outbox) reads the wait through
    `retry_after`: PTB's warning that an int wait is deprecated must not reach the logs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        error = RetryAfter(asked)  # (PTB's own message reads the wait)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wait = retry_after(error)
    assert wait == (asked if isinstance(asked, timedelta) else timedelta(seconds=asked))
