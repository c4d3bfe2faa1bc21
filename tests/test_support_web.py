"""The support console through Starlette's TestClient: nothing without login (every route is
walked), logins and their limits, sessions that expire, CSRF, search, the conversation page,
notes, revealing personal data (with a reason, audited), and both languages."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from bot.i18n import Translator
from bot.support.transcripts import TEMPLATES
from support_console import console_env, csrf_of, login
from support_seed import PASSWORD, SEED, seed

#: Strings that would mean borrower data leaked (names, phones, loan numbers, typed text).
BORROWER_DATA = [
    "王小明",
    "Emma",
    "E*** L*",
    "王**",
    "CC-1001",
    "CL-2002",
    "13800138000",
    "8000",
    "9000",
    "567X",
    "Please call",
    "step_up",
    "transcript",
]


@pytest.fixture
def env(tmp_path):
    yield from console_env(tmp_path)


def concrete(path: str) -> str:
    return path.replace("{chat_id:int}", str(SEED["person_chat"]))


# ------------------------------------------------------------------ nothing without login


def test_every_route_refuses_an_anonymous_visitor(env):
    app, client, _, _ = env
    walked = 0
    for route in app.routes:
        if isinstance(route, Mount):
            assert route.path == "/static"  # the only public mount: styles, no data
            style = client.get("/static/console.css")
            assert style.status_code == 200 and "text/css" in style.headers["content-type"]
            for outside in ("/static/../bot.db", "/static/%2e%2e/app.py", "/static/%2e%2e%2fapp.py"):
                assert client.get(outside).status_code in (303, 404), outside
            assert client.get("/static/nothing.css").status_code == 404
            continue
        assert isinstance(route, Route)
        path = concrete(route.path)
        for method in sorted(route.methods):
            for accept in ("text/html", "application/json"):
                form = {"text": "x", "reason": "curious!", "csrf": "x"} if method == "POST" else None
                response = client.request(method, path, headers={"accept": accept}, data=form)
                walked += 1
                for leaked in BORROWER_DATA:
                    assert leaked not in response.text, (method, path, leaked)
                if path == "/login":
                    assert response.status_code in (200, 403), (method, path)  # the form; a POST without its cookie
                elif path.endswith(".json") or accept == "application/json":
                    assert response.status_code == 401, (method, path, accept)
                    if method != "HEAD":
                        assert response.json() == {"error": "login required"}
                else:
                    assert response.status_code == 303, (method, path)
                    assert response.headers["location"].startswith("/login?next=")
    assert walked >= 16
    # and nothing was written by the anonymous POSTs
    store = env[2]
    assert store.db.execute("SELECT count(*) FROM support_notes").fetchone()[0] == 0
    assert store.db.execute("SELECT count(*) FROM audit WHERE event = 'pii_revealed'").fetchone()[0] == 0


def test_a_forged_or_stale_session_cookie_is_no_session(env):
    _, client, _, _ = env
    for cookie in ("forged", "x" * 300, ""):
        client.cookies.set("support_session", cookie)
        response = client.get(f"/conversations/{SEED['person_chat']}")
        assert response.status_code == 303 and response.headers["location"].startswith("/login")
    client.cookies.clear()


def test_security_headers_on_every_response(env):
    _, client, _, _ = env
    for response in (client.get("/login"), client.get("/"), client.get("/static/console.css")):
        assert response.headers["cache-control"] == "no-store"
        assert "script-src" not in response.headers["content-security-policy"]
        assert "default-src 'none'" in response.headers["content-security-policy"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "same-origin"


# ------------------------------------------------------------------ logging in


def test_login_sets_a_strict_http_only_cookie_and_goes_where_asked(env):
    _, client, store, _ = env
    response = login(client, next_page="/conversations/502")
    assert response.status_code == 303 and response.headers["location"] == "/conversations/502"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("support_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie and "Max-Age=28800" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    assert token not in json.dumps(list(store.db.query("SELECT * FROM support_sessions")))
    page = client.get("/conversations/502")
    assert page.status_code == 200 and "Signed in as alice" in page.text


def test_the_page_after_login_must_be_on_this_site(env):
    _, client, _, _ = env
    assert login(client, next_page="//evil.example/x").headers["location"] == "/"
    client.cookies.clear()
    assert login(client, next_page="https://evil.example/").headers["location"] == "/"


def test_login_failures_look_the_same_and_are_recorded(env):
    _, client, store, _ = env
    for name, password in (("alice", "wrong password"), ("nobody", PASSWORD), ("bob", PASSWORD)):
        response = login(client, name, password)
        assert response.status_code == 401 and "Wrong name or password." in response.text
        assert "support_session" not in response.headers.get("set-cookie", "")
    rows = list(store.db.query("SELECT name, ok FROM support_login_attempts ORDER BY id"))
    assert rows == [{"name": "alice", "ok": 0}, {"name": "nobody", "ok": 0}, {"name": "bob", "ok": 0}]


def test_five_failures_lock_the_name(env):
    _, client, store, clock = env
    for _ in range(5):
        assert login(client, "alice", "wrong password").status_code == 401
    locked = login(client, "alice", PASSWORD)
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
    assert client.get("/").status_code == 303
    clock.advance(minutes=16)
    assert login(client, "alice", PASSWORD).status_code == 303
    assert client.get("/").status_code == 200
    assert store.db.execute("SELECT count(*) FROM support_login_attempts").fetchone()[0] == 7


def test_the_login_form_needs_its_own_csrf_cookie(env):
    _, client, _, _ = env
    client.get("/login")
    refused = client.post("/login", data={"csrf": "guess", "name": "alice", "password": PASSWORD})
    assert refused.status_code == 403 and "support_session" not in refused.headers.get("set-cookie", "")
    client.cookies.clear()
    refused = client.post("/login", data={"name": "alice", "password": PASSWORD})
    assert refused.status_code == 403


def test_session_expires_when_idle_and_after_eight_hours(env):
    _, client, _, clock = env
    login(client)
    clock.advance(minutes=29)
    assert client.get("/").status_code == 200
    clock.advance(minutes=31)
    expired = client.get("/conversations/502")
    assert expired.status_code == 303 and expired.headers["location"] == "/login?next=%2Fconversations%2F502"
    login(client)
    for _ in range(8 * 3 - 1):
        clock.advance(minutes=20)
        assert client.get("/").status_code == 200
    clock.advance(minutes=20)  # 8 hours after login
    assert client.get("/").status_code == 303


def test_logout_ends_the_session(env):
    _, client, store, _ = env
    login(client)
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403
    response = client.post("/logout", data={"csrf": csrf_of(client)})
    assert response.status_code == 303 and response.headers["location"] == "/login"
    assert store.db.execute("SELECT count(*) FROM support_sessions").fetchone()[0] == 0
    assert client.get("/").status_code == 303


# ------------------------------------------------------------------ CSRF


def test_posts_without_the_sessions_csrf_token_are_refused(env):
    app, client, store, _ = env
    other = TestClient(app, follow_redirects=False)
    login(other, "alice")
    foreign_token = csrf_of(other)  # a token of another session of the same agent
    login(client)
    own = csrf_of(client)
    for data in ({"text": "note"}, {"text": "note", "csrf": "0" * 64}, {"text": "note", "csrf": foreign_token}):
        assert client.post("/conversations/502/notes", data=data).status_code == 403
        revealing = {**data, "reason": "checking a payment"}
        assert client.post("/conversations/502/reveal", data=revealing).status_code == 403
    cross_site = client.post(
        "/conversations/502/notes", data={"text": "note", "csrf": own}, headers={"origin": "https://evil.example"}
    )
    assert cross_site.status_code == 403
    assert store.db.execute("SELECT count(*) FROM support_notes").fetchone()[0] == 0
    assert store.db.execute("SELECT count(*) FROM audit WHERE event = 'pii_revealed'").fetchone()[0] == 0
    same_site = client.post(
        "/conversations/502/notes", data={"text": "note", "csrf": own}, headers={"origin": "http://testserver"}
    )
    assert same_site.status_code == 303


# ------------------------------------------------------------------ search


def result_chats(response) -> list[int]:
    return [int(chat) for chat in re.findall(r'href="/conversations/(\d+)" class="open-conversation"', response.text)]


@pytest.mark.parametrize(
    "query, chats",
    [
        ("", [503, 502, 501]),
        ("?loan=CC-1001", [501]),
        ("?loan=cl-2002", [502]),
        ("?name=emma+li", [502]),  # whole names only (a part would reveal a masked name letter by letter)
        ("?name=王小明", [501]),
        ("?name=王", []),
        ("?name=%25", []),  # a LIKE wildcard is a plain character
        ("?phone=9000", [502]),
        ("?phone=8000", [501]),
        ("?step=done", [501]),
        ("?person=1", [502]),
        ("?from=2026-11-24&to=2026-11-26", [502]),
        ("?from=2026-11-20&to=2026-11-20", [501]),
        ("?to=2026-11-19", []),
        ("?from=2026-11-26", [503]),
        ("?loan=CC-1001&person=1", []),
    ],
)
def test_search_filters(env, query, chats):
    _, client, _, _ = env
    login(client)
    response = client.get("/" + query)
    assert response.status_code == 200
    assert result_chats(response) == chats


def test_search_results_are_masked(env):
    _, client, _, _ = env
    login(client)
    page = client.get("/?name=Emma Li").text
    results = page.split('id="results"')[1]  # (the form above shows what the agent typed)
    assert "E*** L*" in results and "+86*******9000" in results
    assert "Emma Li" not in results and "+8613900139000" not in page


@pytest.mark.parametrize(
    "query, message",
    [("?phone=12", "last 4 digits"), ("?phone=abcd", "last 4 digits"), ("?from=28/11/2026", "YYYY-MM-DD")],
)
def test_bad_search_input_is_explained(env, query, message):
    _, client, _, _ = env
    login(client)
    response = client.get("/" + query)
    assert response.status_code == 400 and message in response.text and result_chats(response) == []


# ------------------------------------------------------------------ the conversation page


def test_conversation_page_shows_transcript_finances_options_plan_and_reminders(env):
    _, client, store, _ = env
    data = store.load_conversation(SEED["accepted_chat"])["data"]
    installments = store.installments_for_support(data["plan_id"])
    login(client)
    page = client.get(f"/conversations/{SEED['accepted_chat']}").text
    assert page.count('class="bubble borrower"') > 10 and page.count('class="bubble bot"') > 10
    assert '<span class="chip pressed-label">I agree</span>' in page
    assert '<span class="step" title="Step">reason</span>' in page
    assert "王**" in page and "王小明" not in page and "+86*******8000" in page
    finances = page.split('id="finances"')[1].split("</section>")[0]
    for expected in (
        "lost my job",
        "temporary",
        "CN¥9,000.00",
        "salary",
        "CN¥5,200.00",
        "CN¥800.00",
        "CN¥3,000.00",
        "CN¥3,000.00",
    ):
        assert expected in finances, expected
    options = page.split('id="options"')[1].split("</section>")[0]
    assert len(data["options"]) >= 2 and data["chosen"] == data["options"][0]
    for option in data["options"]:
        assert f"<code>{option}</code>" in options
    assert options.count("(chosen)") == 1
    plan = page.split('id="plans"')[1].split("</section>")[0]
    assert f"Plan #{data['plan_id']} for loan CC-1001" in plan
    assert plan.count('class="status-due"') == len(installments) > 1
    assert (
        Translator().render(
            "en", "support.plan.summary", status="active", payments=len(installments), accepted="2026-11-20 09:"
        )[:30]
        in plan
    )
    first, last = installments[0], installments[-1]
    due = first["due_date"]
    assert f"<td>{first['number']}</td><td>{due:%b} {due.day}, {due.year}</td>" in plan
    assert f"CN¥{last['amount']:,}" in plan
    assert "before_due" in plan and "sent" in plan and "pending" in plan


def test_a_plans_pauses_and_an_amount_chosen_above_the_budget_are_shown(env):
    _, client, store, _ = env
    plan_id = store.load_conversation(SEED["accepted_chat"])["data"]["plan_id"]
    first = store.installments_for_support(plan_id)[0]["due_date"]
    [shown] = [p for p in store.plans_for_support(borrower_id=None, loan_id="CC-1001") if p["id"] == plan_id]
    assert shown["chosen_over_budget"] is False and "terms" not in shown
    with store.transaction():
        store.save_plan_pauses(
            plan_id,
            [
                {
                    "first_date": first.replace(day=1),
                    "last_date": first.replace(day=2),
                    "months": 2,
                    "interest": "capitalised",
                    "capitalised": Decimal("12.50"),
                }
            ],
        )
        store.db.execute(
            "UPDATE plans SET terms = json_set(terms, '$.chosen_over_budget', json('true')) WHERE id = ?", [plan_id]
        )
    login(client)
    plan = client.get(f"/conversations/{SEED['accepted_chat']}").text.split('id="plans"')[1].split("</section>")[0]
    assert 'class="status-paused"' in plan and "paused: nothing to pay for 2 months (interest added: CN¥12.50)" in plan
    assert plan.index("status-paused") < plan.index("status-due")  # in its place, before the first instalment
    assert "above their budget, and confirmed they were sure" in plan
    [shown] = [p for p in store.plans_for_support(borrower_id=None, loan_id="CC-1001") if p["id"] == plan_id]
    assert shown["chosen_over_budget"] is True


def test_personal_data_typed_in_the_chat_is_masked(env):
    _, client, _, _ = env
    login(client)
    page = client.get(f"/conversations/{SEED['person_chat']}").text
    assert "Please call +86 *** **** 9000, my ID is **************567X" in page
    assert "0013 9000" not in page and "1101011990" not in page and "Emma Li" not in page
    assert "E*** L*" in page


def test_unknown_conversation_is_404(env):
    _, client, _, _ = env
    login(client)
    assert client.get("/conversations/999999").status_code == 404
    assert client.post("/conversations/999999/notes", data={"text": "x", "csrf": csrf_of(client)}).status_code == 404


def test_transcript_json_for_a_logged_in_agent(env):
    _, client, _, _ = env
    login(client)
    data = client.get("/conversations/502/transcript.json").json()
    assert data[0]["text"] == "/start"
    assert "0013 9000" not in json.dumps(data, ensure_ascii=False)


# ------------------------------------------------------------------ notes


def test_an_agent_adds_a_note(env):
    _, client, store, _ = env
    login(client)
    response = client.post(
        "/conversations/502/notes",
        data={
            "text": "Called back <b>today</b>; she asks for a plan in March.",
            "csrf": csrf_of(client, "/conversations/502"),
        },
    )
    assert response.status_code == 303 and response.headers["location"] == "/conversations/502#notes"
    page = client.get("/conversations/502").text
    notes = page.split('id="note-list"')[1].split("</ol>")[0]
    assert "alice" in notes and "Called back &lt;b&gt;today&lt;/b&gt;; she asks for a plan in March." in notes
    assert [(n["author"], n["chat_id"]) for n in store.support_notes(502)] == [("alice", 502)]


def test_notes_are_masked_like_the_transcript_until_revealed(env):
    _, client, store, _ = env
    login(client)
    client.post(
        "/conversations/502/notes",
        data={"text": "Emma Li asked us to call 13900139000", "csrf": csrf_of(client, "/conversations/502")},
    )
    notes = client.get("/conversations/502").text.split('id="note-list"')[1].split("</ol>")[0]
    assert "E*** L* asked us to call *******9000" in notes
    revealed = client.post("/conversations/502/reveal", data={"reason": "calling her back", "csrf": csrf_of(client)})
    assert "Emma Li asked us to call 13900139000" in revealed.text
    assert 'href="/conversations/502?lang=zh_CN"' in revealed.text  # not back to the POST-only URL


def test_an_empty_note_is_refused(env):
    _, client, store, _ = env
    login(client)
    response = client.post("/conversations/502/notes", data={"text": "   ", "csrf": csrf_of(client)})
    assert response.status_code == 400 and "A note needs some text" in response.text
    assert store.support_notes(502) == []


# ------------------------------------------------------------------ revealing personal data


def test_reveal_needs_a_reason(env):
    _, client, store, _ = env
    login(client)
    for reason in ("", "   ", "why"):
        response = client.post("/conversations/502/reveal", data={"reason": reason, "csrf": csrf_of(client)})
        assert response.status_code == 400 and "only with a reason" in response.text
        assert "Emma Li" not in response.text and "0013 9000" not in response.text
    assert store.db.execute("SELECT count(*) FROM audit WHERE event = 'pii_revealed'").fetchone()[0] == 0


def test_reveal_shows_the_data_once_and_is_audited(env):
    _, client, store, clock = env
    login(client)
    response = client.post(
        "/conversations/502/reveal", data={"reason": "Borrower called, verifying identity", "csrf": csrf_of(client)}
    )
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    page = response.text
    assert "Emma Li" in page and "+8613900139000" in page
    assert f"Please call {SEED['person_phone']}, my ID is {SEED['person_id']}" in page
    assert "Personal data is shown for this page view only" in page
    audit = list(store.db.query("SELECT * FROM audit WHERE event = 'pii_revealed'"))
    assert len(audit) == 1
    assert (audit[0]["chat_id"], audit[0]["borrower_id"], audit[0]["loan_id"]) == (502, 2, "CL-2002")
    details = json.loads(audit[0]["details"])
    assert details == {"agent": "alice", "agent_id": 1, "reason": "Borrower called, verifying identity"}
    assert audit[0]["at"] == clock.now.isoformat(timespec="microseconds")
    again = client.get("/conversations/502").text  # the next view is masked again
    assert "Emma Li" not in again and "E*** L*" in again


# ------------------------------------------------------------------ languages


def test_language_follows_the_agents_choice(env):
    _, client, _, _ = env
    assert "Sign in to the support console" in client.get("/login").text
    chinese = client.get("/login?lang=zh_CN")
    assert "登录客服控制台" in chinese.text and 'lang="zh-CN"' in chinese.text
    assert "support_lang=zh_CN" in chinese.headers["set-cookie"]
    login(client)
    page = client.get("/conversations/501").text
    assert "对话记录" in page and "财务情况" in page and "已同意的还款计划" in page and "客服备注" in page
    finances = page.split('id="finances"')[1].split("</section>")[0]  # the bot's own labels, in Chinese
    assert "lost my job" not in finances and Translator().render("zh_CN", "label.reason.job_loss") in finances
    assert "查找会话" in client.get("/").text
    assert "Find a conversation" in client.get("/?lang=en").text
    assert "Find a conversation" in client.get("/").text
    assert "Find a conversation" in client.get("/?lang=fr").text  # unknown: ignored


def test_every_page_text_exists_in_both_languages():
    translator = Translator()
    english = {key for key in translator.keys("en") if key.startswith("support.")}
    chinese = {key for key in translator.keys("zh_CN") if key.startswith("support.")}
    assert english == chinese and len(english) > 80
    templates = "".join(path.read_text(encoding="utf-8") for path in TEMPLATES.glob("*.html"))
    used = set(re.findall(r"t\('(support\.[a-z0-9_.]+)'[,)]", templates))
    assert used and used <= english, used - english


# ------------------------------------------------------------------ the `support` command


def test_support_command_serves_the_console(tmp_path):
    import os
    import socket
    import subprocess
    import sys
    import time

    import httpx

    seed(tmp_path / "bot.db")[0].close()
    with socket.socket() as probe:  # a free port (the console binds it a moment later)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(BOT_DATABASE=str(tmp_path / "bot.db"), BOT_DEFAULT_LOCALE="en")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "support", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None and time.monotonic() < deadline, process.stdout.read().decode()
                time.sleep(0.1)
        assert page.status_code == 200 and "Sign in to the support console" in page.text
        home = httpx.get(f"http://127.0.0.1:{port}/conversations/502", timeout=5)
        assert home.status_code == 303 and home.headers["location"].startswith("/login")
        assert "Emma" not in home.text
    finally:
        process.terminate()
        output = process.communicate(timeout=20)[0].decode()
    assert "Traceback" not in output
    assert "/conversations/502" not in output  # no access log: search terms and paths stay out of logs
