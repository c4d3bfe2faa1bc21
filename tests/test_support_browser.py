"""The support console in a real headless browser: Debian's chromium driven by Selenium through
/usr/bin/chromedriver (nothing is downloaded), against uvicorn serving the real app on
127.0.0.1 with a seeded database.  An agent logs in, searches, opens a transcript, adds a
note and sees it, and switches the page to Chinese.  And an agent answers a borrower from the
browser: the real `restructure-bot run` process talks to the borrower through the HTTP Bot API
stub, the queue shows the borrower waiting, the agent's reply reaches the borrower, the
borrower's answer and a support-group agent's reply appear in the console, and closing the
hand-off returns the borrower to the step they left.

Needs the Debian packages `chromium` and `chromium-driver` (see .ci/run); skipped, saying so,
when /usr/bin/chromium is missing.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.config import Settings
from bot.demo import load_demo
from bot.i18n import Translator
from bot.store import Store
from bot.support.auth import add_user
from bot.support.web import create_app
from botapi_stub import BotApiStub
from fakebot import TOKEN, make_callback_update, make_command_update, make_text_update
from support_console import served
from support_seed import FAST, PASSWORD, seed

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
    reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)",
)


@pytest.fixture
def console_url(tmp_path):
    """The console served by uvicorn in a thread on an ephemeral loopback port."""
    store, _ = seed(tmp_path / "bot.db")
    settings = Settings(_env_file=None, database=str(tmp_path / "bot.db"), default_locale="en")
    with served(create_app(store, settings, Translator())) as url:
        yield url
    store.close()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
    ):
        options.add_argument(flag)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    yield driver
    snap(driver, "last")
    driver.quit()


def snap(driver, name: str) -> None:
    """A screenshot in $SUPPORT_SCREENSHOTS, when set (to look at the pages by hand)."""
    if os.environ.get("SUPPORT_SCREENSHOTS"):
        driver.save_screenshot(os.path.join(os.environ["SUPPORT_SCREENSHOTS"], f"{name}.png"))


def test_an_agent_logs_in_searches_reads_a_transcript_and_adds_a_note(console_url, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 15)

    def by_id(name):
        return browser.find_element(By.ID, name)

    # no page without login: the console sends the browser to the login form
    browser.get(console_url + "/conversations/502")
    wait.until(ec.url_contains("/login"))
    assert "Emma" not in browser.page_source and "CL-2002" not in browser.page_source

    by_id("name").send_keys("alice")
    by_id("password").send_keys("not the password")
    by_id("login").click()
    wait.until(ec.visibility_of_element_located((By.ID, "login-problem")))
    assert "Wrong name or password." in by_id("login-problem").text

    by_id("name").clear()
    by_id("name").send_keys("alice")
    by_id("password").send_keys(PASSWORD)
    by_id("login").click()
    wait.until(ec.url_to_be(console_url + "/conversations/502"))  # back where the agent was going
    cookie = browser.get_cookie("support_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"

    # search by name (a whole name: a part finds nothing)
    browser.get(console_url + "/")
    by_id("q-name").send_keys("emma li")
    by_id("search").click()
    wait.until(ec.url_contains("name=emma"))
    rows = browser.find_elements(By.CSS_SELECTOR, "#results tbody tr")
    assert len(rows) == 1
    assert "E*** L*" in rows[0].text and "CL-2002" in rows[0].text and "Emma" not in rows[0].text

    # ... and by the last 4 digits of the phone and "needs a person"
    browser.get(console_url + "/")
    by_id("q-phone").send_keys("9000")
    by_id("q-person").click()
    by_id("search").click()
    wait.until(ec.url_contains("phone=9000"))
    links = browser.find_elements(By.CSS_SELECTOR, "a.open-conversation")
    assert [link.text for link in links] == ["502"]

    # open the transcript
    links[0].click()
    wait.until(ec.presence_of_element_located((By.ID, "transcript")))
    bubbles = browser.find_elements(By.CSS_SELECTOR, "#transcript li.bubble")
    assert len(bubbles) > 10
    borrower = browser.find_elements(By.CSS_SELECTOR, "#transcript li.bubble.borrower")
    bot = browser.find_elements(By.CSS_SELECTOR, "#transcript li.bubble.bot")
    assert borrower and bot
    # borrower on the right, bot on the left
    assert borrower[0].location["x"] > bot[0].location["x"]
    transcript = by_id("transcript").text
    assert "Please call +86 *** **** 9000, my ID is **************567X" in transcript
    assert "0013 9000" not in browser.page_source
    assert "I agree" in [chip.text for chip in browser.find_elements(By.CSS_SELECTOR, "#transcript .pressed-label")]

    # add a note and see it
    by_id("note-text").send_keys("Called back: she expects a new job in March.")
    by_id("add-note").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "note-list"), "Called back: she expects a new job in March."))
    assert "alice" in by_id("note-list").text
    assert browser.current_url.endswith("/conversations/502#notes")

    # the same page in Chinese
    by_id("lang-zh_CN").click()
    wait.until(ec.text_to_be_present_in_element((By.ID, "notes"), "客服备注"))
    assert "Called back: she expects a new job in March." in by_id("note-list").text

    # sign out: the conversation is gone from reach
    by_id("logout").click()
    wait.until(ec.url_contains("/login"))
    browser.get(console_url + "/conversations/502")
    wait.until(ec.url_contains("/login"))
    assert "Called back" not in browser.page_source


# ------------------------------------------------------------------ answering from the browser

SUPPORT = -100777
BORROWER = 4242
GROUP_AGENT = 9001


class Borrower:
    """A borrower on Telegram, through the Bot API stub the bot process polls."""

    def __init__(self, stub: BotApiStub) -> None:
        self.stub = stub
        self.update_ids = iter(range(1, 100_000))

    def after(self, push, expect: str, chat: int = BORROWER, timeout: float = 30, before: int | None = None) -> str:
        """Do `push`, then wait for a message (text or button) containing `expect` after message `before`
        (by default: the messages sent after the push); all those messages, joined."""
        before = len(self.stub.sent_messages(chat)) if before is None else before
        push()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            texts = [
                m.get("text", "")
                + "".join(
                    f" [{button['text']}]"
                    for row in (m.get("reply_markup") or {}).get("inline_keyboard", [])
                    for button in row
                )
                for m in self.stub.sent_messages(chat)[before:]
            ]
            if any(expect in text for text in texts):
                return "\n".join(texts)
            time.sleep(0.05)
        raise AssertionError(f"no {expect!r} in chat {chat}: {self.stub.sent_messages(chat)[before:]}")

    def say(self, text: str, expect: str, where: int = BORROWER) -> str:
        uid = next(self.update_ids)
        if text.startswith("/"):
            update = make_command_update(uid, BORROWER, BORROWER, text[1:], language_code="en")
        else:
            update = make_text_update(uid, BORROWER, BORROWER, text, language_code="en")
        return self.after(lambda: self.stub.push_update(update), expect, where)

    def press(self, label: str, expect: str) -> str:
        data = next(d for row in self.stub.last_buttons(BORROWER) for text, d in row if text == label)
        update = make_callback_update(next(self.update_ids), BORROWER, BORROWER, data, 1, language_code="en")
        return self.after(lambda: self.stub.push_update(update), expect)

    def wait(self, expect: str, chat: int = BORROWER, timeout: float = 30) -> str:
        """Wait for a message containing `expect`, sent at any time."""
        return self.after(lambda: None, expect, chat, timeout, before=0)

    def group_agent_replies(self, text: str, to_message: int, expect: str) -> str:
        update = make_text_update(next(self.update_ids), SUPPORT, GROUP_AGENT, text, language_code="en")
        update["message"]["chat"] = {"id": SUPPORT, "type": "supergroup", "title": "Support"}
        update["message"]["from"]["first_name"] = "Wei"
        update["message"]["reply_to_message"] = {
            "message_id": to_message,
            "date": 0,
            "chat": update["message"]["chat"],
            "text": "card",
        }
        return self.after(lambda: self.stub.push_update(update), expect)


@pytest.fixture
def desk(tmp_path):
    """The real bot process on the Bot API stub, and the console on the same database file."""
    database = tmp_path / "bot.db"
    store = Store(database)
    load_demo(store)
    add_user(store, "alice", PASSWORD, **FAST)
    with BotApiStub(token=TOKEN, max_poll_wait=0.2) as stub:
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
        env.update(
            BOT_TOKEN=TOKEN,
            BOT_API_URL=stub.base_url,
            BOT_DATABASE=str(database),
            BOT_DEFAULT_LOCALE="en",
            BOT_SUPPORT_CHAT_ID=str(SUPPORT),
            BOT_SUPPORT_HOURS="00:00-23:59",
            NO_PROXY="127.0.0.1",
        )
        settings = Settings(_env_file=None, database=str(database), default_locale="en")
        with open(tmp_path / "bot.log", "w") as log:
            bot = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            try:
                with served(create_app(store, settings, Translator())) as url:
                    yield url, Borrower(stub), database
            finally:
                bot.terminate()
                bot.wait(20)
                store.close()
    output = (tmp_path / "bot.log").read_text()
    assert "Traceback" not in output, output


def test_an_agent_answers_a_borrower_from_the_browser_and_hands_back_to_the_assistant(desk, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    url, borrower, database = desk
    wait = WebDriverWait(browser, 30)

    def by_id(name):
        return browser.find_element(By.ID, name)

    # the borrower talks to the bot, then asks for a person at "temporary or lasting?"
    borrower.say("/start", "I agree")
    borrower.press("I agree", "loan")
    borrower.say("CC-1001", "last 4")
    borrower.say("1234", "Continue")
    borrower.press("Continue", "Lost my job")
    borrower.press("Lost my job", "Do you expect this to be temporary")
    borrower.say("/human", "asked a member of our team")
    borrower.wait("Ticket #1", chat=SUPPORT)  # the card in the support group

    # the queue
    browser.get(url + "/login?next=/queue")
    by_id("name").send_keys("alice")
    by_id("password").send_keys(PASSWORD)
    by_id("login").click()
    wait.until(ec.url_to_be(url + "/queue"))
    row = by_id(f"queue-{BORROWER}")
    assert "the borrower asked for a person" in row.text and "CC-1001" in row.text and "not yet" in row.text
    snap(browser, "queue")
    by_id("lang-zh_CN").click()
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "等待人工客服的会话"))
    assert "借款人要求转人工" in by_id(f"queue-{BORROWER}").text
    by_id("lang-en").click()
    wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Conversations waiting for a person"))

    # open it and reply
    row = by_id(f"queue-{BORROWER}")
    row.find_element(By.CSS_SELECTOR, "a.open-conversation").click()
    wait.until(ec.presence_of_element_located((By.ID, "reply-text")))
    by_id("reply-text").send_keys("We can pause your payments for 3 months. Would that help?")
    borrower.after(
        by_id("send-reply").click, "<b>Our team:</b> We can pause your payments for 3 months. Would that help?"
    )
    borrower.wait("alice replied from the web console", chat=SUPPORT)  # the group sees it
    browser.switch_to.frame("live")
    wait.until(ec.text_to_be_present_in_element((By.ID, "actions"), "delivered at"))
    browser.switch_to.default_content()

    # the borrower answers, and an agent in the Telegram group too: both appear in the console
    borrower.say("Yes, thank you, that would help", "thank you, that would help", where=SUPPORT)
    card = sqlite3.connect(database).execute("SELECT card_message_id FROM tickets").fetchone()[0]
    borrower.group_agent_replies("Wei here: I am noting it in your file.", card, "Wei here")
    browser.switch_to.frame("live")
    wait.until(ec.text_to_be_present_in_element((By.ID, "live-transcript"), "Yes, thank you, that would help"))
    wait.until(ec.text_to_be_present_in_element((By.ID, "live-transcript"), "Wei here: I am noting it"))
    assert "Wei (in the Telegram group)" in by_id("actions").text
    browser.switch_to.default_content()
    snap(browser, "handoff")

    # close: the borrower is back with the assistant, at the step they left
    texts = borrower.after(by_id("close-handoff").click, "Do you expect this to be temporary")
    assert "finished" in texts
    borrower.wait("closed by alice in the web console", chat=SUPPORT)
    browser.get(url + "/queue")
    assert by_id("queue-empty").text == "Nobody is waiting for a person."
    borrower.press("Temporary", "how many months")
