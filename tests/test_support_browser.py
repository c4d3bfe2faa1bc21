"""The support console in a real headless browser: Debian's chromium driven by Selenium through
/usr/bin/chromedriver (nothing is downloaded), against uvicorn serving the real app on
127.0.0.1 with a seeded database.  An agent logs in, searches, opens a transcript, adds a
note and sees it, and switches the page to Chinese.

Needs the Debian packages `chromium` and `chromium-driver` (see .ci/run); skipped, saying so,
when /usr/bin/chromium is missing.
"""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path(shutil.which("chromedriver") or "/usr/bin/chromedriver")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or not CHROMEDRIVER.exists(),
    reason="needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)",
)

from bot.config import Settings  # noqa: E402
from bot.i18n import Translator  # noqa: E402
from bot.support.web import create_app  # noqa: E402
from support_seed import PASSWORD, seed  # noqa: E402


@pytest.fixture
def console_url(tmp_path):
    """The console served by uvicorn in a thread on an ephemeral loopback port."""
    import uvicorn

    store, _ = seed(tmp_path / "bot.db")
    settings = Settings(_env_file=None, database=str(tmp_path / "bot.db"), default_locale="en")
    app = create_app(store, settings, Translator())
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=20)
    sock.close()
    store.close()


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'chrome-profile'}"):
        options.add_argument(flag)
    service = Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    yield driver
    if os.environ.get("SUPPORT_SCREENSHOTS"):
        driver.save_screenshot(os.path.join(os.environ["SUPPORT_SCREENSHOTS"], "last.png"))
    driver.quit()


def test_an_agent_logs_in_searches_reads_a_transcript_and_adds_a_note(console_url, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 15)
    by_id = lambda name: browser.find_element(By.ID, name)  # noqa: E731

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
