"""The store: migrations, exact money, optimistic concurrency, duplicate updates, plans."""

from __future__ import annotations

import hashlib
import sqlite3
import threading
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from bot.errors import ConflictError, StoreError
from bot.store import Store
from bot.store import migrations as store_module
from bot.store.migrations import MIGRATIONS
from fixtures import NOW


def loan_row(**changes) -> dict:
    row = {
        "loan_id": "CC-1",
        "borrower_name": "王芳",
        "phone": "+8613800138000",
        "id_last4": "123X",
        "locale": "zh_CN",
        "product": "credit_card",
        "currency": "CNY",
        "outstanding_principal": Decimal("12345678.91"),
        "overdue_principal": Decimal("0.10"),
        "overdue_interest": Decimal("0"),
        "penalty_fees": Decimal("35.50"),
        "annual_rate": Decimal("0.1825"),
        "monthly_payment": Decimal("1200.00"),
        "remaining_term_months": 24,
        "days_past_due": 45,
        "next_due_date": date(2024, 6, 1),
        "prior_restructures": 0,
        "on_time_payments_last_12": 9,
    }
    row.update(changes)
    return row


@pytest.fixture
def loaded(store):
    store.upsert_borrower_and_loan(loan_row())
    return store


# ------------------------------------------------------------------ opening and migrations


def test_file_database_uses_wal_and_foreign_keys(tmp_path):
    with Store(tmp_path / "bot.db") as s:
        assert s.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_fresh_database_is_at_the_latest_schema(store):
    assert store.schema_version == len(MIGRATIONS)
    assert {
        "borrowers",
        "loans",
        "invites",
        "conversations",
        "messages",
        "plans",
        "installments",
        "audit",
        "identification_attempts",
    } <= set(store.db.table_names())


def test_migrations_run_once(tmp_path):
    path = tmp_path / "bot.db"
    with Store(path) as s:
        s.upsert_borrower_and_loan(loan_row())
        assert s.migrate() == len(MIGRATIONS)  # a second run is a no-op
    with Store(path) as s:  # reopening migrates nothing and keeps the data
        assert s.schema_version == len(MIGRATIONS)
        assert s.get_loan("CC-1") is not None


def test_only_new_migrations_run(tmp_path, monkeypatch):
    path = tmp_path / "bot.db"
    Store(path).close()
    calls = []

    def v2_add_note(db):
        calls.append(1)
        db.execute("ALTER TABLE loans ADD COLUMN note TEXT")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, v2_add_note])
    with Store(path) as s:
        assert s.schema_version == len(MIGRATIONS) + 1
        assert "note" in s.db["loans"].columns_dict
    with Store(path) as s:
        assert s.schema_version == len(MIGRATIONS) + 1
    assert calls == [1]


def test_failed_migration_leaves_the_version_unchanged(tmp_path, monkeypatch):
    path = tmp_path / "bot.db"
    Store(path).close()

    def broken(db):
        db.execute("CREATE TABLE half_done (id INTEGER)")
        raise RuntimeError("boom")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, broken])
    with pytest.raises(RuntimeError):
        Store(path)
    monkeypatch.setattr(store_module, "MIGRATIONS", MIGRATIONS)
    with Store(path) as s:
        assert s.schema_version == len(MIGRATIONS)
        assert "half_done" not in s.db.table_names()


def test_database_from_a_newer_release_is_refused(tmp_path):
    path = tmp_path / "bot.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99 is newer"):
        Store(path)


# ------------------------------------------------------------------ money and loans


def test_reads_open_no_transaction_and_refuse_ambiguous_columns(store):
    """Reads go straight to the connection (no savepoint per SELECT): outside a transaction
    they leave none open, and a row with two columns of one name is an error, not a lost value."""
    assert list(store._rows("SELECT 1 AS a, 2 AS b")) == [{"a": 1, "b": 2}]
    assert not store.db.conn.in_transaction
    with pytest.raises(StoreError, match="two columns of the same name"):
        store._one("SELECT 1 AS a, 2 AS a")


def test_amounts_round_trip_exactly(loaded):
    loan = loaded.get_loan("CC-1")
    assert str(loan["outstanding_principal"]) == "12345678.91"
    assert str(loan["overdue_principal"]) == "0.10"
    assert str(loan["annual_rate"]) == "0.1825"
    assert isinstance(loan["penalty_fees"], Decimal)
    assert loan["next_due_date"] == date(2024, 6, 1)
    stored = loaded.db.execute("SELECT typeof(overdue_principal), overdue_principal FROM loans").fetchone()
    assert stored == ("text", "0.10")


def test_floats_are_refused(store):
    with pytest.raises(StoreError, match="not float"):
        store.upsert_borrower_and_loan(loan_row(penalty_fees=0.1))
    assert store.get_loan("CC-1") is None


def test_money_columns_keep_text_affinity(loaded):
    """A column typed DECIMAL or MONEY would have NUMERIC affinity and turn '0.10' into 0.1."""
    loaded.db.execute("UPDATE loans SET penalty_fees = '0.10'")
    assert loaded.db.execute("SELECT typeof(penalty_fees), penalty_fees FROM loans").fetchone() == ("text", "0.10")
    assert str(loaded.get_loan("CC-1")["penalty_fees"]) == "0.10"


def test_naive_datetimes_are_refused(loaded):
    with pytest.raises(StoreError, match="no time zone"):
        loaded.create_invite("CC-1", datetime(2024, 5, 1, 9, 30), 14)


def test_times_are_compared_as_instants(loaded):
    shanghai = timezone(timedelta(hours=8))
    loaded.record_identification_attempt(7, False, datetime(2024, 5, 1, 17, 0, tzinfo=shanghai), user_id=7)
    # 17:00 in Shanghai is 09:00 UTC, i.e. after 08:30 UTC and before 09:30 UTC
    assert loaded.failed_identifications_by_account(7, datetime(2024, 5, 1, 8, 30, tzinfo=UTC)) == 1
    assert loaded.failed_identifications_by_account(7, datetime(2024, 5, 1, 9, 30, tzinfo=UTC)) == 0


def test_upsert_matches_borrower_by_phone_and_updates_by_loan_id(store):
    assert store.upsert_borrower_and_loan(loan_row()) is True
    assert store.upsert_borrower_and_loan(loan_row(loan_id="CL-2", product="consumer_loan")) is True
    assert store.upsert_borrower_and_loan(loan_row(days_past_due=60)) is False
    first = store.get_loan("CC-1")
    assert first["days_past_due"] == 60
    assert store.get_loan("CL-2")["borrower_id"] == first["borrower_id"]
    assert [loan["loan_id"] for loan in store.loans_for_borrower(first["borrower_id"])] == ["CC-1", "CL-2"]
    assert store.db.execute("SELECT count(*) FROM borrowers").fetchone()[0] == 1


def test_reimport_keeps_the_language_the_borrower_chose(loaded):
    borrower_id = loaded.get_loan("CC-1")["borrower_id"]
    loaded.set_borrower_locale(borrower_id, "en")
    loaded.upsert_borrower_and_loan(loan_row(locale="zh_CN", borrower_name="王 芳"))
    borrower = loaded.get_borrower(borrower_id)
    assert (borrower["locale"], borrower["name"]) == ("en", "王 芳")


def test_transaction_rolls_back_every_call_in_it(store):
    with pytest.raises(RuntimeError), store.transaction():
        store.upsert_borrower_and_loan(loan_row())
        store.upsert_borrower_and_loan(loan_row(loan_id="CL-2"))
        raise RuntimeError("import interrupted")
    assert store.get_loan("CC-1") is None
    assert store.db.execute("SELECT count(*) FROM borrowers").fetchone()[0] == 0
    store.upsert_borrower_and_loan(loan_row())  # and the connection is usable again
    assert store.get_loan("CC-1") is not None


def test_second_writer_waits_for_the_first(tmp_path):
    """The bot and `loans import` on one file: the second writer waits, then succeeds."""
    path = tmp_path / "bot.db"
    Store(path).close()
    outcome = []

    def bot_process():
        with Store(path) as bot:  # its own connection, as in another process
            bot.upsert_borrower_and_loan(loan_row(loan_id="CL-2"))
            outcome.append(sorted(loan["loan_id"] for loan in bot.loans_for_borrower(1)))

    with Store(path) as importer:
        with importer.transaction():
            importer.upsert_borrower_and_loan(loan_row())
            waiting = threading.Thread(target=bot_process)
            waiting.start()
            waiting.join(timeout=0.5)
            assert waiting.is_alive() and outcome == []  # blocked on the write lock
        waiting.join(timeout=10)
    assert outcome == [["CC-1", "CL-2"]]


def test_unknown_rows_are_none(store):
    assert store.get_loan("nope") is None
    assert store.get_borrower(42) is None
    assert store.borrower_by_telegram(42) is None
    assert store.load_conversation(42) is None
    with pytest.raises(StoreError, match="no borrower 42"):
        store.set_borrower_locale(42, "en")


# ------------------------------------------------------------------ telegram binding


def test_bind_telegram(loaded):
    borrower_id = loaded.get_loan("CC-1")["borrower_id"]
    loaded.bind_telegram(borrower_id, user_id=1001, chat_id=5001)
    loaded.bind_telegram(borrower_id, user_id=1001, chat_id=5002)  # same account, new chat
    borrower = loaded.borrower_by_telegram(1001)
    assert (borrower["id"], borrower["telegram_chat_id"]) == (borrower_id, 5002)


def test_bind_telegram_refuses_a_second_account(loaded):
    borrower_id = loaded.get_loan("CC-1")["borrower_id"]
    loaded.bind_telegram(borrower_id, user_id=1001, chat_id=5001)
    with pytest.raises(StoreError, match="already linked to another Telegram account"):
        loaded.bind_telegram(borrower_id, user_id=2002, chat_id=6002)
    assert loaded.borrower_by_telegram(2002) is None
    assert loaded.get_borrower(borrower_id)["telegram_user_id"] == 1001


def test_one_telegram_account_cannot_be_two_borrowers(loaded):
    loaded.upsert_borrower_and_loan(loan_row(loan_id="X-9", phone="+8613900139000"))
    first = loaded.get_loan("CC-1")["borrower_id"]
    second = loaded.get_loan("X-9")["borrower_id"]
    loaded.bind_telegram(first, user_id=1001, chat_id=5001)
    with pytest.raises(StoreError, match="already linked to another borrower"):
        loaded.bind_telegram(second, user_id=1001, chat_id=5001)


# ------------------------------------------------------------------ conversations


def save(store, version, step="income", **changes):
    values = dict(
        step=step,
        data={"income": Decimal("8000.50"), "due": date(2024, 6, 1)},
        version=version,
        locale="zh_CN",
        borrower_id=None,
        loan_id=None,
        telegram_user_id=1001,
    )
    values.update(changes)
    return store.save_conversation(77, **values)


def test_conversation_round_trip(store):
    assert save(store, 0) == 1
    assert save(store, 1, step="expenses", needs_person=True) == 2
    assert store.load_conversation(77) == {
        "step": "expenses",
        "data": {"income": "8000.50", "due": "2024-06-01"},
        "version": 2,
        "locale": "zh_CN",
        "borrower_id": None,
        "loan_id": None,
        "telegram_user_id": 1001,
        "needs_person": True,
    }
    assert store.load_conversation(78) is None


def test_stale_save_is_a_conflict_and_changes_nothing(store):
    save(store, 0)
    save(store, 1, step="expenses")  # another process got there first
    with pytest.raises(ConflictError, match="conversation 77 changed since version 1"):
        save(store, 1, step="savings")
    assert store.load_conversation(77)["step"] == "expenses"
    assert store.load_conversation(77)["version"] == 2


def test_two_new_conversations_for_one_chat_conflict(store):
    save(store, 0)
    with pytest.raises(ConflictError):
        save(store, 0, step="consent")
    assert store.load_conversation(77)["step"] == "income"


# ------------------------------------------------------------------ messages, audit, identification


def test_duplicate_update_is_detected(store):
    assert store.log_message(direction="in", chat_id=77, text="hi", update_id=500, at=NOW) is True
    assert store.log_message(direction="in", chat_id=77, text="hi", update_id=500, at=NOW) is False
    # replies may cite the update they answer, as often as needed
    assert (
        store.log_message(direction="out", chat_id=77, text="a", update_id=500, at=NOW, buttons=[["Yes", "No"]]) is True
    )
    assert store.log_message(direction="out", chat_id=77, text="b", update_id=500, at=NOW) is True
    assert store.log_message(direction="in", chat_id=77, text="typed", at=NOW) is True
    assert store.log_message(direction="in", chat_id=77, text="typed", at=NOW) is True
    rows = list(store.db.query("SELECT direction, text, buttons FROM messages ORDER BY id"))
    assert [(r["direction"], r["text"]) for r in rows] == [
        ("in", "hi"),
        ("out", "a"),
        ("out", "b"),
        ("in", "typed"),
        ("in", "typed"),
    ]
    assert rows[1]["buttons"] == '[["Yes", "No"]]'


def test_log_message_refuses_an_unknown_direction(store):
    with pytest.raises(StoreError, match="direction"):
        store.log_message(direction="sideways", chat_id=1, text="x", at=NOW)


def test_failed_identifications_are_counted_per_account_across_chats_and_window(store):
    for minutes, ok, chat in [(0, False, 77), (10, False, -500), (20, True, 77), (30, False, -600)]:
        store.record_identification_attempt(chat, ok, NOW + timedelta(minutes=minutes), user_id=77)
    store.record_identification_attempt(88, False, NOW, user_id=88)
    assert store.failed_identifications_by_account(77, NOW) == 3
    assert store.failed_identifications_by_account(77, NOW + timedelta(minutes=5)) == 2
    assert store.failed_identifications_by_account(88, NOW) == 1


def test_audit_keeps_details_as_json(store):
    store.audit("plan_accepted", at=NOW, chat_id=77, loan_id="CC-1", amount=Decimal("10.50"), option="level")
    row = next(store.db.query("SELECT * FROM audit"))
    assert (row["event"], row["chat_id"], row["loan_id"]) == ("plan_accepted", 77, "CC-1")
    assert row["details"] == '{"amount": "10.50", "option": "level"}'


# ------------------------------------------------------------------ plans

OPTION = {
    "option_id": "level-24",
    "structure": "level",
    "currency": "CNY",
    "total_repayable": Decimal("15000.40"),
    "apr": Decimal("0.1200"),
    "parameters": {"months": "24"},
}


def schedule() -> list[dict]:
    return [
        {
            "number": 1,
            "due_date": date(2024, 6, 15),
            "payment": Decimal("1000.00"),
            "principal": Decimal("1000.00"),
            "interest": Decimal("0"),
            "fees": Decimal("0"),
            "kind": "down_payment",
        },
        {
            "number": 2,
            "due_date": date(2024, 7, 15),
            "payment": Decimal("600.10"),
            "principal": Decimal("500.00"),
            "interest": Decimal("90.10"),
            "fees": Decimal("10.00"),
        },
        {
            "number": 3,
            "due_date": date(2024, 8, 15),
            "payment": Decimal("650.30"),
            "principal": Decimal("560.20"),
            "interest": Decimal("80.10"),
            "fees": Decimal("10.00"),
        },
    ]


def accept(store, update_id=900, consent="我同意以上还款计划。"):
    borrower_id = store.get_loan("CC-1")["borrower_id"]
    return store.save_plan(
        loan_id="CC-1",
        borrower_id=borrower_id,
        option=OPTION,
        installments=schedule(),
        consent_text=consent,
        consent_user_id=1001,
        consent_update_id=update_id,
        accepted_at=NOW,
    )


def test_save_plan_records_terms_schedule_and_consent_hash(loaded):
    plan_id = accept(loaded)
    [plan] = loaded.list_plans()
    assert plan["id"] == plan_id
    assert plan["consent_sha256"] == hashlib.sha256("我同意以上还款计划。".encode()).hexdigest()
    assert (plan["payments"], plan["first_due_date"], plan["status"]) == (3, date(2024, 6, 15), "active")
    # the down payment is not a monthly amount
    assert (str(plan["monthly_min"]), str(plan["monthly_max"])) == ("600.10", "650.30")
    assert (str(plan["total_repayable"]), str(plan["apr"])) == ("15000.40", "0.1200")
    assert plan["accepted_at"] == NOW
    assert plan["terms"]["parameters"] == {"months": "24"}
    rows = loaded.plan_installments(plan_id)
    assert [(r["number"], r["amount"], r["kind"], r["status"]) for r in rows] == [
        (1, Decimal("1000.00"), "down_payment", "due"),
        (2, Decimal("600.10"), "instalment", "due"),
        (3, Decimal("650.30"), "instalment", "due"),
    ]
    assert str(rows[1]["interest"]) == "90.10"


def test_double_tap_records_one_plan(loaded):
    first = accept(loaded, update_id=900)
    assert accept(loaded, update_id=900) == first
    assert len(loaded.list_plans()) == 1
    assert len(loaded.plan_installments(first)) == 3
    assert accept(loaded, update_id=901) != first  # a later, separate acceptance


def test_save_plan_is_all_or_nothing(loaded):
    broken = schedule()
    broken[2]["number"] = 2  # duplicate installment number: fails after the plan row is written
    borrower_id = loaded.get_loan("CC-1")["borrower_id"]
    with pytest.raises(sqlite3.IntegrityError):
        loaded.save_plan(
            loan_id="CC-1",
            borrower_id=borrower_id,
            option=OPTION,
            installments=broken,
            consent_text="ok",
            consent_user_id=1,
            consent_update_id=5,
            accepted_at=NOW,
        )
    assert loaded.list_plans() == []
    assert loaded.db.execute("SELECT count(*) FROM installments").fetchone()[0] == 0


def test_save_plan_names_a_missing_option_field(loaded):
    option = {k: v for k, v in OPTION.items() if k != "apr"}
    borrower_id = loaded.get_loan("CC-1")["borrower_id"]
    with pytest.raises(StoreError, match="the option has no 'apr'"):
        loaded.save_plan(
            loan_id="CC-1",
            borrower_id=borrower_id,
            option=option,
            installments=schedule(),
            consent_text="ok",
            consent_user_id=1,
            consent_update_id=5,
            accepted_at=NOW,
        )
