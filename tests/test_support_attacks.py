"""The support console under attack (issue 12 §2): login floods, lockout by knocking, huge
bodies, empty reveal reasons, name guessing, parameters that used to give 500s, 500s without
the security headers, a 404 page linking to another host, and serving to the network over
plain HTTP."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time

import httpx
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from bot.config import Settings
from bot.i18n import Translator
from bot.support import auth as support_auth
from bot.support.web import create_app
from support_console import console_env, csrf_of, login, served
from support_seed import PASSWORD, SEED, seed

SECURITY_HEADERS = (
    "cache-control",
    "x-frame-options",
    "x-content-type-options",
    "referrer-policy",
    "content-security-policy",
)


@pytest.fixture
def env(tmp_path):
    yield from console_env(tmp_path)


def client_at(app, address: str) -> TestClient:
    return TestClient(app, follow_redirects=False, client=(address, 40000))


def assert_security_headers(response) -> None:
    for name in SECURITY_HEADERS:
        assert name in response.headers, (response.status_code, name)
    assert response.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in response.headers["content-security-policy"]


# ------------------------------------------------------------------ scrypt off the event loop


@pytest.fixture
def live(tmp_path):
    """A seeded console on real uvicorn, and a way to sign in over real HTTP."""
    store, _ = seed(tmp_path / "bot.db")
    settings = Settings(_env_file=None, database=str(tmp_path / "bot.db"), default_locale="en")
    with served(create_app(store, settings, Translator())) as url:
        yield url
    store.close()


def http_login(url: str, name: str, password: str, client: httpx.Client | None = None) -> httpx.Response:
    client = client or httpx.Client(base_url=url, follow_redirects=False, timeout=30)
    csrf = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text).group(1)
    return client.post("/login", data={"csrf": csrf, "name": name, "password": password, "next": "/"})


def test_a_login_being_hashed_does_not_hold_up_an_agents_page(live, monkeypatch):
    agent = httpx.Client(base_url=live, follow_redirects=False, timeout=30)
    assert http_login(live, "alice", PASSWORD, agent).status_code == 303
    release, hashing = threading.Event(), threading.Event()
    real = support_auth.verify_password

    def slow_hash(password: str, stored: str) -> bool:
        hashing.set()
        release.wait(30)
        return real(password, stored)

    monkeypatch.setattr(support_auth, "verify_password", slow_hash)
    attacker = threading.Thread(target=http_login, args=(live, "mallory", "guess"))
    attacker.start()
    try:
        assert hashing.wait(10), "the login never reached the password check"
        page = agent.get("/", timeout=5)  # served while the hash is still running
        assert page.status_code == 200 and "Find a conversation" in page.text
    finally:
        release.set()
        attacker.join(30)


def test_password_checks_are_bounded_and_the_excess_is_refused_at_once(live, monkeypatch):
    release = threading.Event()
    running, most = [0], [0]
    lock = threading.Lock()

    def counting_hash(password: str, stored: str) -> bool:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        release.wait(30)
        with lock:
            running[0] -= 1
        return False

    monkeypatch.setattr(support_auth, "verify_password", counting_hash)
    statuses: list[int] = []

    def attempt(i: int) -> None:
        statuses.append(http_login(live, f"guess{i}", "wrong password").status_code)

    threads = [
        threading.Thread(target=attempt, args=(i,))
        for i in range(support_auth.HASHES_AT_ONCE + support_auth.HASHES_WAITING + 4)
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 15
    while statuses.count(503) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert statuses.count(503) == 4  # answered while the others still wait for a worker
    assert most[0] == support_auth.HASHES_AT_ONCE
    release.set()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [401] * (len(threads) - 4) + [503] * 4


# ------------------------------------------------------------------ throttling and back-off


def test_one_address_trying_many_names_is_throttled(env, monkeypatch):
    app = env[0]
    checked = []
    real = support_auth.verify_password
    monkeypatch.setattr(support_auth, "verify_password", lambda p, s: checked.append(1) or real(p, s))
    client = client_at(app, "198.51.100.7")
    statuses = [login(client, f"name{i}", "wrong password").status_code for i in range(30)]
    assert statuses == [401] * support_auth.ADDRESS_FREE_FAILURES + [429] * (30 - support_auth.ADDRESS_FREE_FAILURES)
    assert len(checked) == support_auth.ADDRESS_FREE_FAILURES  # refused attempts check no password
    # another address is not affected
    assert login(client_at(app, "198.51.100.8"), "alice", PASSWORD).status_code == 303


def test_the_right_password_from_a_known_address_passes_a_name_that_is_backing_off(env, caplog):
    app, _, store, clock = env
    office = client_at(app, "203.0.113.10")
    assert login(office, "alice", PASSWORD).status_code == 303  # alice has signed in from the office
    clock.advance(minutes=1)
    attacker = client_at(app, "198.51.100.66")
    for _ in range(support_auth.NAME_FREE_FAILURES):
        assert login(attacker, "alice", "guess").status_code == 401
    refused = login(attacker, "alice", PASSWORD)
    assert refused.status_code == 429 and "Too many failed sign-ins" in refused.text
    assert "retry-after" in refused.headers
    assert login(client_at(app, "192.0.2.99"), "alice", PASSWORD).status_code == 429  # unknown address
    clock.advance(seconds=5)
    with caplog.at_level("INFO", logger="bot.support.auth"):
        assert login(client_at(app, "203.0.113.10"), "alice", PASSWORD).status_code == 303
    assert any("passes the name's back-off" in r.message and "203.0.113.10" in r.message for r in caplog.records)
    assert (
        any("refused unchecked" in r.message and "198.51.100.66" in r.message for r in caplog.records)
        or store.db.execute("SELECT count(*) FROM support_login_attempts WHERE refused = 1").fetchone()[0] == 2
    )


def test_a_known_browser_passes_from_a_new_address(env):
    app, _, _, clock = env
    laptop = client_at(app, "203.0.113.20")
    first = login(laptop, "alice", PASSWORD)
    assert first.status_code == 303
    clock.advance(minutes=1)
    known = next(c for c in first.headers.get_list("set-cookie") if c.startswith(support_auth.KNOWN_BROWSER_COOKIE))
    assert "HttpOnly" in known and "SameSite=strict" in known and "Path=/login" in known
    attacker = client_at(app, "198.51.100.66")
    for _ in range(support_auth.NAME_FREE_FAILURES + 1):
        login(attacker, "alice", "guess")
    travelling = client_at(app, "192.0.2.50")  # a new address (a hotel)...
    assert login(travelling, "alice", PASSWORD).status_code == 429
    travelling.cookies.set(
        support_auth.KNOWN_BROWSER_COOKIE, laptop.cookies[support_auth.KNOWN_BROWSER_COOKIE], path="/login"
    )
    assert login(travelling, "alice", PASSWORD).status_code == 303  # ... but the laptop's browser


def test_knocking_while_backing_off_does_not_extend_it(env):
    app, _, store, clock = env
    attacker = client_at(app, "198.51.100.66")
    for _ in range(support_auth.NAME_FREE_FAILURES):
        assert login(attacker, "alice", "guess").status_code == 401
    for _ in range(10):  # knocking every few seconds, for most of a minute
        clock.advance(seconds=5)
        assert login(attacker, "alice", "guess").status_code == 429
    clock.advance(seconds=11)  # a minute after the last real failure
    assert login(attacker, "alice", "guess").status_code == 401  # one more guess: now 2 minutes
    clock.advance(seconds=119)
    assert login(attacker, "alice", "guess").status_code == 429
    clock.advance(seconds=2)
    # the real alice, from an address never seen, gets in with the right password
    assert login(client_at(app, "192.0.2.99"), "alice", PASSWORD).status_code == 303
    failures = store.db.execute("SELECT count(*) FROM support_login_attempts WHERE ok = 0 AND refused = 0").fetchone()[
        0
    ]
    assert failures == support_auth.NAME_FREE_FAILURES + 1


def test_back_off_grows_and_is_capped():
    assert [support_auth.backoff(n, 5) for n in (0, 4)] == [None, None]
    assert [support_auth.backoff(n, 5).total_seconds() / 60 for n in (5, 6, 7, 8, 9, 10, 50)] == [
        1,
        2,
        4,
        8,
        15,
        15,
        15,
    ]


# ------------------------------------------------------------------ body size


def asgi_post(app, path: str, headers: list[tuple[bytes, bytes]], chunks: list[bytes]) -> tuple[int, int, dict]:
    """POST through the ASGI interface; (status, bytes the app read, response headers)."""
    read = [0]
    pending = list(chunks)

    async def receive():
        if not pending:
            await asyncio.sleep(3600)
        chunk = pending.pop(0)
        read[0] += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(pending)}

    started: dict = {}

    async def send(message):
        if message["type"] == "http.response.start":
            started.update(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/x-www-form-urlencoded"), *headers],
        "client": ("192.0.2.1", 1234),
        "server": ("testserver", 80),
        "state": {},
    }

    async def run():
        await asyncio.wait_for(app(scope, receive, send), 20)

    asyncio.run(run())
    return started["status"], read[0], {k.decode(): v.decode() for k, v in started["headers"]}


def test_a_declared_huge_body_is_refused_before_reading_it(env):
    app = env[0]
    for path in ("/login", "/conversations/502/notes", "/logout"):
        status, read, headers = asgi_post(
            app, path, [(b"content-length", str(350 * 2**20).encode())], [b"x" * 65536] * 10
        )
        assert (status, read) == (413, 0), path
        assert headers["cache-control"] == "no-store"


def test_a_streamed_body_is_cut_off_at_the_limit(env):
    app = env[0]
    chunks = [b"name=" + b"x" * 65531] + [b"x" * 65536] * 40  # 2.5 MiB, no Content-Length
    status, read, _ = asgi_post(app, "/login", [], chunks)
    assert status == 413
    assert read <= 2**20 + 65536


# ------------------------------------------------------------------ reveal reasons


@pytest.mark.parametrize(
    "reason",
    [
        "\u200b" * 5,
        "\u200b\u200c\u200d\u2060\ufeff" * 3,
        "!!!!!",
        ". . . . .",
        "12345678",
        "a a a a a",
        "\u202e\u202d----",
        "🙂🙂🙂🙂🙂",
        "x" + "\u200b" * 9,
    ],
)
def test_a_reveal_reason_without_words_is_refused(env, reason):
    _, client, store, _ = env
    login(client)
    response = client.post("/conversations/502/reveal", data={"reason": reason, "csrf": csrf_of(client)})
    assert response.status_code == 400 and "Emma Li" not in response.text
    assert store.db.execute("SELECT count(*) FROM audit WHERE event = 'pii_revealed'").fetchone()[0] == 0


@pytest.mark.parametrize("reason", ["checking a payment", "verify ID", "客户来电核实身份", "Rückruf vereinbart"])
def test_a_reveal_reason_in_words_is_accepted(env, reason):
    _, client, store, _ = env
    login(client)
    response = client.post(
        "/conversations/502/reveal", data={"reason": f"\u200b{reason}\u200b", "csrf": csrf_of(client)}
    )
    assert response.status_code == 200 and "Emma Li" in response.text
    details = json.loads(store.db.execute("SELECT details FROM audit WHERE event = 'pii_revealed'").fetchone()[0])
    assert details["reason"] == reason  # invisible characters are not written to the audit log


NO_LETTERS = st.text(
    st.characters(
        categories=["Zs", "Zl", "Cf", "Cc", "Pc", "Pd", "Ps", "Pe", "Po", "Sm", "Sc", "Sk", "So", "Nd", "No", "Mn"]
    ),
    max_size=60,
)


@given(NO_LETTERS)
def test_no_string_without_letters_is_a_reason(text):
    from bot.support.web.conversation import reason_has_words

    assert not reason_has_words(text)


# ------------------------------------------------------------------ searching by name


def result_chats(response) -> list[int]:
    return [int(chat) for chat in re.findall(r'href="/conversations/(\d+)" class="open-conversation"', response.text)]


@pytest.mark.parametrize(
    "name, chats",
    [
        ("Emma Li", [502]),
        ("  emma   LI ", [502]),
        ("王小明", [501]),
        ("emma", []),
        ("Emm", []),
        ("王", []),
        ("小明", []),
        ("E%", []),
        ("Emma Li Wang", []),
    ],
)
def test_a_name_search_matches_whole_names_only(env, name, chats):
    _, client, _, _ = env
    login(client)
    assert result_chats(client.get("/", params={"name": name})) == chats


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.data())
def test_no_part_of_a_name_finds_it(env, data):
    _, client, _, _ = env
    if not client.cookies.get("support_session"):
        login(client)
    full = data.draw(st.sampled_from([SEED["person_name"], SEED["accepted_name"]]))
    start = data.draw(st.integers(0, len(full) - 1))
    end = data.draw(st.integers(start + 1, len(full)))
    part = full[start:end]
    if not part.strip() or " ".join(part.split()).casefold() == full.casefold():
        return  # no name at all (no search), or the whole name
    assert result_chats(client.get("/", params={"name": part})) == []


# ------------------------------------------------------------------ parameters and errors


@pytest.mark.parametrize(
    "query",
    [
        "?to=9999-12-31",
        "?from=9999-12-31",
        "?from=0001-01-01&to=0001-01-01",
        "?to=2026-02-30",
        "?from=%00",
        "?to=%2B2026-11-28",
        "?to=20261128",
    ],
)
def test_dates_out_of_range_are_a_bad_request(env, query):
    _, client, _, _ = env
    login(client)
    response = client.get("/" + query)
    assert response.status_code == 400 and "YYYY-MM-DD" in response.text
    assert_security_headers(response)


@given(
    st.dictionaries(
        st.sampled_from(["loan", "name", "phone", "step", "from", "to", "person", "lang"]),
        st.text(max_size=30),
        max_size=4,
    )
)
@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
def test_any_search_parameters_give_an_answer_never_an_error(env, params):
    _, client, _, _ = env
    if not client.cookies.get("support_session"):
        login(client)
    response = client.get("/", params=params)
    assert response.status_code in (200, 400)
    assert_security_headers(response)


def test_a_conversation_id_no_database_can_hold_is_not_found(env):
    _, client, _, _ = env
    login(client)
    csrf = csrf_of(client)
    for chat in ("1" * 23, str(2**63), "9" * 400):
        for response in (
            client.get(f"/conversations/{chat}"),
            client.get(f"/conversations/{chat}/transcript.json"),
            client.post(f"/conversations/{chat}/notes", data={"text": "x", "csrf": csrf}),
            client.post(f"/conversations/{chat}/reveal", data={"reason": "checking a payment", "csrf": csrf}),
        ):
            assert response.status_code == 404, (chat, response.request.url)
            assert_security_headers(response)


def test_a_server_error_still_carries_the_security_headers(tmp_path):
    store, _ = seed(tmp_path / "bot.db")
    settings = Settings(_env_file=None, database=str(tmp_path / "bot.db"), default_locale="en")
    app = create_app(store, settings, Translator())
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        login(client)
        store.db.execute("DROP TABLE support_notes")  # something the page needs is broken
        response = client.get("/conversations/502")
        assert response.status_code == 500
        assert_security_headers(response)
        assert "Something went wrong" in response.text and "Traceback" not in response.text
        as_json = client.get("/conversations/502", headers={"accept": "application/json"})
        assert as_json.status_code == 500 and as_json.json() == {"error": "server error"}
        assert_security_headers(as_json)
    store.close()


@pytest.mark.parametrize(
    "path",
    ["//evil.example/x", "///evil.example/x", "/\\evil.example/x", "/%5Cevil.example/x", "//evil.example/%2e%2e/x"],
)
def test_the_404_page_links_only_to_this_site(env, path):
    _, client, _, _ = env
    login(client)
    response = client.get("http://testserver" + path)
    assert response.status_code == 404
    for link in re.findall(r'href="([^"]*)"', response.text):
        assert link.startswith("/") and not link.startswith(("//", "/\\")), link
        assert httpx.URL("http://testserver/page").join(link).host == "testserver", link


# ------------------------------------------------------------------ serving to the network


@pytest.fixture
def served_with(monkeypatch, tmp_path):
    """Run `restructure-bot support ...` with uvicorn.run recorded instead of serving."""
    import uvicorn

    calls: list[dict] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kwargs: calls.append(kwargs))
    monkeypatch.setenv("BOT_DATABASE", str(tmp_path / "bot.db"))
    monkeypatch.chdir(tmp_path)

    def run(*args: str):
        from bot.cli import main

        return CliRunner().invoke(main, ["support", *args]), calls

    return run


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "console.example"])
def test_serving_to_the_network_over_plain_http_is_refused(served_with, host):
    result, calls = served_with("--host", host)
    assert result.exit_code == 2 and calls == []
    message = result.output.strip().splitlines()[-1]
    assert "--allow-plain-http" in message and "--secure-cookie" in message and "Traceback" not in result.output


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--host", "127.0.0.1"],
        ["--host", "::1"],
        ["--host", "localhost"],
        ["--host", "0.0.0.0", "--secure-cookie"],
        ["--host", "0.0.0.0", "--allow-plain-http"],
    ],
)
def test_serving_locally_or_with_https_or_the_flag_starts(served_with, args):
    result, calls = served_with(*args)
    assert result.exit_code == 0, result.output
    assert len(calls) == 1
    if "--allow-plain-http" in args:
        assert "plain HTTP" in result.output  # still said, loudly
