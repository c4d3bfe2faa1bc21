"""Invitations: single-use, expiring deep-link tokens, and the `invite` command."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.errors import InviteError, StoreError
from bot.store import Store
from fixtures import NOW

DEEP_LINK_PAYLOAD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def add_loan(store: Store, loan_id: str = "CC-1") -> None:
    store.upsert_borrower_and_loan(
        {
            "loan_id": loan_id,
            "borrower_name": "Li Wei",
            "phone": "+8613800138000",
            "id_last4": "1234",
            "product": "credit_card",
            "currency": "CNY",
            "outstanding_principal": Decimal("9000.00"),
            "overdue_principal": Decimal("1000.00"),
            "overdue_interest": Decimal("80.00"),
            "penalty_fees": Decimal("50.00"),
            "annual_rate": Decimal("0.18"),
            "monthly_payment": Decimal("900.00"),
            "remaining_term_months": 12,
            "days_past_due": 40,
            "next_due_date": date(2024, 6, 1),
        }
    )


@pytest.fixture
def store(store):
    """The shared empty store, with loan CC-1."""
    add_loan(store)
    return store


# ------------------------------------------------------------------ the store's side


def test_token_fits_a_telegram_deep_link(store):
    tokens = {store.create_invite("CC-1", NOW, 14) for _ in range(20)}
    assert len(tokens) == 20
    assert all(DEEP_LINK_PAYLOAD.match(token) for token in tokens)


def test_invite_is_single_use(store):
    token = store.create_invite("CC-1", NOW, 14)
    assert store.peek_invite(token, NOW) == "CC-1"
    assert store.peek_invite(token, NOW) == "CC-1"  # peeking does not use it up
    assert store.redeem_invite(token, NOW + timedelta(minutes=1), chat_id=5001) == "CC-1"
    with pytest.raises(InviteError) as caught:
        store.redeem_invite(token, NOW + timedelta(minutes=2), chat_id=6002)
    assert caught.value.reason == "used"
    with pytest.raises(InviteError) as caught:
        store.peek_invite(token, NOW)
    assert caught.value.reason == "used"
    used = next(store.db.query("SELECT used_by_chat FROM invites WHERE token = ?", [token]))
    assert used["used_by_chat"] == 5001


def test_invite_expires_after_its_ttl(store):
    token = store.create_invite("CC-1", NOW, 3)
    assert store.peek_invite(token, NOW + timedelta(days=3, seconds=-1)) == "CC-1"
    for when in (NOW + timedelta(days=3), NOW + timedelta(days=30)):
        with pytest.raises(InviteError) as caught:
            store.redeem_invite(token, when, chat_id=5001)
        assert caught.value.reason == "expired"
    assert next(store.db.query("SELECT used_at FROM invites"))["used_at"] is None


def test_unknown_token(store):
    for check in (
        lambda: store.peek_invite("no-such-token", NOW),
        lambda: store.redeem_invite("no-such-token", NOW, chat_id=1),
    ):
        with pytest.raises(InviteError) as caught:
            check()
        assert caught.value.reason == "unknown"
        assert str(caught.value) == "no such invitation"


def test_invite_for_an_unknown_loan_is_refused(store):
    with pytest.raises(StoreError, match="no loan 'XX-9'"):
        store.create_invite("XX-9", NOW, 14)
    assert store.db.execute("SELECT count(*) FROM invites").fetchone()[0] == 0


# ------------------------------------------------------------------ the command


@pytest.fixture
def env(cli_env):
    """A database with one loan, BOT_* taken only from this test, no .env, no proxies."""
    with Store(cli_env) as s:
        add_loan(s)
    return cli_env


def invite(*args: str):
    return CliRunner().invoke(main, ["invite", *args])


def test_invite_without_token_prints_placeholder_link_and_token_last(env):
    result = invite("CC-1", "--ttl-days", "2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    token = lines[-1]
    assert DEEP_LINK_PAYLOAD.match(token)
    assert lines[-2] == f"https://t.me/<bot username>?start={token}"
    assert "needs BOT_TOKEN" in result.output
    assert lines[0].startswith("invitation for loan CC-1, single use, valid until ")
    assert lines[0].endswith("(Asia/Shanghai)")
    with Store(env) as s:
        now = datetime.now(UTC)
        assert s.peek_invite(token, now) == "CC-1"
        with pytest.raises(InviteError):  # --ttl-days 2 was honoured
            s.peek_invite(token, now + timedelta(days=2, minutes=1))


def test_invite_unknown_loan_is_one_line_error(env):
    result = invite("XX-9")
    assert result.exit_code == 1
    assert result.output == "Error: no loan 'XX-9'\n"


class FakeTelegram(BaseHTTPRequestHandler):
    """Answers getMe like api.telegram.org; a token containing 'bad' is refused."""

    paths: list[str] = []

    def do_POST(self) -> None:
        self.paths.append(self.path)
        if "bad" in self.path:
            status, body = 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        elif self.path.endswith("/getMe"):
            status, body = (
                200,
                {
                    "ok": True,
                    "result": {
                        "id": 4242,
                        "is_bot": True,
                        "first_name": "Plans",
                        "username": "plans_test_bot",
                        "can_join_groups": False,
                        "can_read_all_group_messages": False,
                        "supports_inline_queries": False,
                    },
                },
            )
        else:
            status, body = 404, {"ok": False, "error_code": 404, "description": "Not Found"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def telegram_stub(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeTelegram)
    FakeTelegram.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address
    monkeypatch.setenv("BOT_API_URL", f"http://{host}:{port}/bot")
    monkeypatch.setenv("BOT_API_FILE_URL", f"http://{host}:{port}/file/bot")
    yield FakeTelegram.paths
    server.shutdown()
    server.server_close()


def test_invite_asks_telegram_for_the_username(env, telegram_stub, monkeypatch):
    monkeypatch.setenv("BOT_TOKEN", "4242:secret")
    result = invite("CC-1")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    token = lines[-1]
    assert lines[-2] == f"https://t.me/plans_test_bot?start={token}"
    assert "needs BOT_TOKEN" not in result.output
    assert "/bot4242:secret/getMe" in telegram_stub


def test_invite_with_a_refused_token_creates_nothing(env, telegram_stub, monkeypatch):
    monkeypatch.setenv("BOT_TOKEN", "4242:bad")
    result = invite("CC-1")
    assert result.exit_code == 1
    assert result.output == "Error: BOT_TOKEN: Telegram does not accept this token\n"
    with Store(env) as s:
        assert s.db.execute("SELECT count(*) FROM invites").fetchone()[0] == 0
