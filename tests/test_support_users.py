"""Support accounts: scrypt password hashes, `support-user add|disable|list`, login limits and
session lifetimes (bot.support.auth over bot.store.support)."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.errors import StoreError
from bot.store import Store
from bot.support import auth as support_auth
from bot.support.auth import (
    AccountError,
    LoginFailed,
    LoginLocked,
    add_user,
    hash_password,
    login,
    logout,
    session_agent,
    verify_password,
)
from fixtures import NOW

PASSWORD = "correct horse battery"
FAST = {"n": 2**10}


# ------------------------------------------------------------------ password hashes


def test_hash_is_self_describing_salted_scrypt():
    stored = hash_password(PASSWORD)
    scheme, params, salt, key = stored.split("$")
    assert (scheme, params) == ("scrypt", "n=32768,r=8,p=1")
    assert len(salt) == 24 and len(key) == 44  # 16 and 32 bytes, base64
    assert PASSWORD not in stored
    assert verify_password(PASSWORD, stored)
    assert not verify_password(PASSWORD + "x", stored)
    assert hash_password(PASSWORD, **FAST) != hash_password(PASSWORD, **FAST)  # a fresh salt each time


def test_verify_uses_the_cost_stored_with_the_hash():
    cheap = hash_password(PASSWORD, n=2**10, r=4, p=2)
    assert cheap.split("$")[1] == "n=1024,r=4,p=2"
    assert verify_password(PASSWORD, cheap)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "plain",
        "bcrypt$x$y$z",
        "scrypt$n=1024,r=8,p=1$!!$AAAA",
        "scrypt$n=1024$AAAA$AAAA",
        "scrypt$n=1024,r=8,p=1$AAAA$",
    ],
)
def test_a_malformed_stored_hash_never_matches(stored):
    assert verify_password(PASSWORD, stored) is False


def test_add_user_checks_name_and_password(store):
    with pytest.raises(AccountError, match="at least 10 characters"):
        add_user(store, "alice", "short", **FAST)
    with pytest.raises(AccountError, match="bad name"):
        add_user(store, "al ice", PASSWORD, **FAST)
    with pytest.raises(AccountError, match="bad name"):
        add_user(store, "-alice", PASSWORD, **FAST)
    add_user(store, "alice", PASSWORD, **FAST)
    with pytest.raises(StoreError, match="already exists"):
        add_user(store, "alice", PASSWORD, **FAST)


# ------------------------------------------------------------------ logins


def test_login_creates_a_session_whose_token_is_stored_only_as_a_hash(store):
    add_user(store, "alice", PASSWORD, **FAST)
    token = login(store, "alice", PASSWORD, client="127.0.0.1", now=NOW)
    assert len(token) >= 43
    rows = list(store.db.query("SELECT * FROM support_sessions"))
    assert [r["token_hash"] for r in rows] == [hashlib.sha256(token.encode()).hexdigest()]
    assert token not in str(rows)
    assert rows[0]["expires_at"] == "2026-11-28T17:30:00.000000+00:00"  # 8 hours after NOW
    agent = session_agent(store, token, now=NOW)
    assert (agent.name, agent.token) == ("alice", token)
    assert agent.csrf == support_auth.csrf_token(token) and agent.csrf != token
    attempts = list(store.db.query("SELECT name, client, ok FROM support_login_attempts"))
    assert attempts == [{"name": "alice", "client": "127.0.0.1", "ok": 1}]


def test_wrong_password_unknown_name_and_disabled_account_fail_alike(store):
    add_user(store, "alice", PASSWORD, **FAST)
    add_user(store, "bob", PASSWORD, **FAST)
    store.disable_support_user("bob")
    for name, password in (("alice", "wrong password"), ("nobody", PASSWORD), ("bob", PASSWORD)):
        with pytest.raises(LoginFailed, match="^wrong name or password$"):
            login(store, name, password, client=None, now=NOW)
    assert store.db.execute("SELECT count(*) FROM support_login_attempts WHERE ok = 0").fetchone()[0] == 3


def test_a_person_can_answer_while_some_account_is_enabled(store):
    """What the borrower is told on asking for a person (with no support group) hangs on this."""
    assert store.any_support_user_enabled() is False
    add_user(store, "alice", PASSWORD, **FAST)
    add_user(store, "bob", PASSWORD, **FAST)
    store.disable_support_user("bob")
    assert store.any_support_user_enabled() is True
    store.disable_support_user("alice")
    assert store.any_support_user_enabled() is False


def test_five_failures_make_the_name_back_off_and_refusals_are_no_failures(store):
    add_user(store, "alice", PASSWORD, **FAST)
    for second in range(5):
        with pytest.raises(LoginFailed):
            login(store, "alice", "guess", client="10.0.0.9", now=NOW + timedelta(seconds=second))
    with pytest.raises(LoginLocked) as locked:  # even the right password, from an unknown client
        login(store, "alice", PASSWORD, client="10.0.0.9", now=NOW + timedelta(seconds=30))
    assert locked.value.until == NOW + timedelta(seconds=4, minutes=1)
    with pytest.raises(LoginLocked):
        login(store, "alice", PASSWORD, client=None, now=NOW + timedelta(seconds=60))
    assert store.support_login_failures(since=NOW, name="alice") == (5, NOW + timedelta(seconds=4))
    refused = store.db.execute("SELECT count(*) FROM support_login_attempts WHERE refused = 1").fetchone()[0]
    assert refused == 2  # recorded, but no failures: knocking does not extend the wait
    assert login(store, "alice", PASSWORD, client=None, now=NOW + timedelta(seconds=65))


def test_a_successful_login_resets_the_failure_count(store):
    add_user(store, "alice", PASSWORD, **FAST)
    for _ in range(4):
        with pytest.raises(LoginFailed):
            login(store, "alice", "guess", client=None, now=NOW)
    login(store, "alice", PASSWORD, client=None, now=NOW + timedelta(seconds=1))
    for _ in range(4):
        with pytest.raises(LoginFailed):
            login(store, "alice", "guess", client=None, now=NOW + timedelta(seconds=2))
    assert login(store, "alice", PASSWORD, client=None, now=NOW + timedelta(seconds=3))


# ------------------------------------------------------------------ sessions


def test_session_ends_after_thirty_idle_minutes(store):
    add_user(store, "alice", PASSWORD, **FAST)
    token = login(store, "alice", PASSWORD, client=None, now=NOW)
    assert session_agent(store, token, now=NOW + timedelta(minutes=29))
    assert session_agent(store, token, now=NOW + timedelta(minutes=58))  # 29 idle minutes again
    assert session_agent(store, token, now=NOW + timedelta(minutes=88)) is None
    assert store.db.execute("SELECT count(*) FROM support_sessions").fetchone()[0] == 0


def test_session_ends_eight_hours_after_login_however_busy(store):
    add_user(store, "alice", PASSWORD, **FAST)
    token = login(store, "alice", PASSWORD, client=None, now=NOW)
    moment = NOW
    while moment < NOW + timedelta(hours=8) - timedelta(minutes=20):
        moment += timedelta(minutes=20)
        assert session_agent(store, token, now=moment) is not None
    assert session_agent(store, token, now=NOW + timedelta(hours=8)) is None


def test_logout_disable_and_unknown_tokens(store):
    add_user(store, "alice", PASSWORD, **FAST)
    first = login(store, "alice", PASSWORD, client=None, now=NOW)
    second = login(store, "alice", PASSWORD, client=None, now=NOW)
    logout(store, first)
    assert session_agent(store, first, now=NOW) is None
    assert session_agent(store, second, now=NOW) is not None
    store.disable_support_user("alice")
    assert session_agent(store, second, now=NOW) is None
    for token in (None, "", "x" * 500, "not-a-session"):
        assert session_agent(store, token, now=NOW) is None


# ------------------------------------------------------------------ the commands


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BOT_DATABASE", str(tmp_path / "cli.db"))

    def invoke(*args: str, input: str | None = None):  # noqa: A002
        return CliRunner().invoke(main, list(args), input=input)

    return invoke


def test_support_user_add_prompts_twice_hidden(run, tmp_path):
    result = run("support-user", "add", "alice", input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Password: " in result.output and "Repeat for confirmation: " in result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert "support user alice created" in result.output
    with Store(tmp_path / "cli.db") as store:
        assert verify_password(PASSWORD, store.support_user("alice")["password_hash"])


def test_support_user_add_asks_again_for_a_weak_or_mismatched_password(run):
    result = run("support-user", "add", "alice", input=f"short\n{PASSWORD}\nother password\n{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "at least 10 characters" in result.output
    assert "The two entered values do not match" in result.output


def test_support_user_add_from_stdin_and_errors(run):
    assert run("support-user", "add", "bob", "--password-stdin", input=PASSWORD + "\n").exit_code == 0
    again = run("support-user", "add", "bob", "--password-stdin", input=PASSWORD + "\n")
    assert again.exit_code == 1 and again.output.strip() == "Error: support user 'bob' already exists"
    weak = run("support-user", "add", "carol", "--password-stdin", input="short\n")
    assert weak.exit_code == 1 and "at least 10 characters" in weak.output and "Traceback" not in weak.output


def test_support_user_list_and_disable(run):
    run("support-user", "add", "alice", "--password-stdin", input=PASSWORD + "\n")
    run("support-user", "add", "bob", "--password-stdin", input=PASSWORD + "\n")
    assert run("support-user", "disable", "bob").output.strip() == "support user bob disabled"
    listing = run("support-user", "list").output.splitlines()
    assert [line.split()[:2] for line in listing] == [["alice", "active"], ["bob", "disabled"]]
    missing = run("support-user", "disable", "nobody")
    assert missing.exit_code == 1 and missing.output.strip() == "Error: no support user 'nobody'"
