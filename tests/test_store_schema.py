"""The schema and the one way rows are read: a database at the previous version migrates with its
data, indexes and foreign keys intact (tables rebuilt for their CHECK constraints); every status
column takes exactly its enum's values; every column `TABLES` names exists, times are read as
times wherever they are read; and the store methods that are one step of a caller's change
refuse to run outside a transaction."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

import pytest
import sqlite_utils
from hypothesis import given
from hypothesis import strategies as st

from bot.errors import StoreError
from bot.store import Store
from bot.store.codec import TABLES, TIME, Codec
from bot.store.migrations import MIGRATIONS
from bot.store.statuses import (
    BroadcastStatus,
    InstalmentStatus,
    OutboxStatus,
    PlanStatus,
    RecipientStatus,
    ReminderStatus,
)
from fixtures import NOW

#: The schema version before the migration that gave every status its CHECK constraint.
BEFORE_STATUS_CHECKS = next(
    n for n, migration in enumerate(MIGRATIONS) if migration.__name__.endswith("_status_checks")
)

#: The status columns and the enum each must hold.
STATUSES: dict[tuple[str, str], type[StrEnum]] = {
    ("plans", "status"): PlanStatus,
    ("installments", "status"): InstalmentStatus,
    ("reminders", "status"): ReminderStatus,
    ("broadcasts", "status"): BroadcastStatus,
    ("broadcast_recipients", "status"): RecipientStatus,
    ("support_outbox", "status"): OutboxStatus,
}
#: Tables the CHECK migration rebuilds, and those that refer to them.
REBUILT = ("plans", "installments", "broadcasts")
KEPT = ("borrowers", "loans", "payments", "reminders", "broadcast_recipients")


def at_version(path, version: int) -> sqlite_utils.Database:
    """A database file that ran the first `version` migrations, as a release of then left it."""
    db = sqlite_utils.Database(path)
    for migration in MIGRATIONS[:version]:
        migration(db)
    db.execute(f"PRAGMA user_version = {version}")
    return db


def fill(db: sqlite_utils.Database) -> None:
    """Two borrowers with a plan each (one superseded by the other, so `plans` refers to itself),
    instalments in every state, a payment, reminders and a broadcast, written as the previous
    release's code would (raw SQL: the store of this release must not be needed to write them)."""
    at = NOW.isoformat(timespec="microseconds")
    for borrower_id in (1, 2):
        db.execute(
            "INSERT INTO borrowers (id, name, phone, id_last4, created_at) VALUES (?, ?, ?, '1234', ?)",
            (borrower_id, f"B{borrower_id}", f"+86138001380{borrower_id:02d}", at),
        )
        db.execute(
            "INSERT INTO loans VALUES (?, ?, 'credit_card', 'CNY', '9000.10', '1000', '80', '50', '0.18', '900',"
            " 12, 40, '2026-12-01', 0, NULL, ?, ?)",
            (f"CC-{borrower_id}", borrower_id, at, at),
        )
    plan = (
        "INSERT INTO plans (id, loan_id, borrower_id, option_id, structure, currency, payments, first_due_date,"
        " monthly_min, monthly_max, total_repayable, apr, accepted_at, status, terms, consent_text, consent_sha256,"
        " superseded_by, ended_at) VALUES (?, 'CC-1', 1, 'level-3', 'level', 'CNY', 4, '2026-12-01', '250.00',"
        " '250.00', '1000.00', '0.12', ?, ?, '{}', 'I agree', 'x', ?, ?)"
    )
    db.execute(plan, (2, at, "active", None, None))
    db.execute(plan, (1, at, "superseded", 2, at))
    db.execute(plan.replace("'CC-1', 1", "'CC-2', 2"), (3, at, "broken", None, at))
    for number, status in enumerate(("paid", "partly_paid", "missed", "due"), 1):
        db.execute(
            "INSERT INTO installments (plan_id, number, due_date, amount, principal, interest, fees, status, paid)"
            " VALUES (2, ?, ?, '250.00', '240.00', '10.00', '0', ?, ?)",
            (number, f"2026-{number + 8:02d}-01", status, {"paid": "250.00", "partly_paid": "100"}.get(status, "0")),
        )
    db.execute(
        "INSERT INTO payments (loan_id, plan_id, amount, paid_at, reference, source, imported_at)"
        " VALUES ('CC-1', 2, '350.00', ?, 'R-1', 'import', ?)",
        (at, at),
    )
    for number, status in enumerate(("sent", "pending", "cancelled"), 1):
        db.execute(
            "INSERT INTO reminders (plan_id, installment_number, borrower_id, kind, send_at, status, created_at)"
            " VALUES (2, ?, 1, 'before:3', ?, ?, ?)",
            (number, at, status, at),
        )
    db.execute(
        "INSERT INTO broadcasts (id, segment, template, rate, created_at, status)"
        " VALUES (1, 'all', 'new_plans_available', 30, ?, 'finished')",
        (at,),
    )
    db.execute(
        "INSERT INTO broadcast_recipients (broadcast_id, borrower_id, chat_id, locale, status)"
        " VALUES (1, 1, 901, 'en', 'sent')"
    )


def contents(db, tables) -> dict[str, list[tuple]]:
    return {table: db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall() for table in tables}


def shape(db) -> dict[str, object]:
    """What the schema is, as SQLite reports it: columns, indexes and foreign keys per table."""
    tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    return {
        table: (
            db.execute(f'PRAGMA table_info("{table}")').fetchall(),
            sorted(row[1:] for row in db.execute(f'PRAGMA index_list("{table}")').fetchall()),
            sorted(db.execute(f'PRAGMA foreign_key_list("{table}")').fetchall()),
        )
        for table in tables
    }


# ------------------------------------------------------------------ migrating


def test_a_database_of_the_previous_version_migrates_with_its_data(tmp_path):
    path = tmp_path / "old.db"
    old = at_version(path, len(MIGRATIONS) - 1)
    fill(old)
    before = contents(old, REBUILT + KEPT)
    old.close()
    with Store(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert contents(store.db, REBUILT + KEPT) == before
        assert store.db.execute("PRAGMA foreign_key_check").fetchall() == []
        assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        with Store(":memory:") as fresh:
            assert shape(store.db) == shape(fresh.db)  # the same tables, indexes and keys as a new file
        # the rebuilt tables are the ones the others refer to: those references still hold
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            store.db.execute("DELETE FROM plans WHERE id = 2")
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"):
            store.db.execute(
                "INSERT INTO installments (plan_id, number, due_date, amount, principal, interest, fees)"
                " VALUES (99, 1, '2027-01-01', '1', '1', '0', '0')"
            )
        # and the store reads the old rows as it reads its own
        assert [i["status"] for i in store.plan_installments(2)] == ["paid", "partly_paid", "missed", "due"]
        assert store.plan(1)["superseded_by"] == 2 and store.plan(1)["status"] is PlanStatus.SUPERSEDED


def test_a_status_this_release_does_not_know_stops_the_migration_and_changes_nothing(tmp_path):
    path = tmp_path / "odd.db"
    old = at_version(path, BEFORE_STATUS_CHECKS)
    fill(old)
    old.execute("UPDATE plans SET status = 'paused' WHERE id = 3")
    before = contents(old, REBUILT + KEPT)
    old.close()
    with pytest.raises(StoreError, match=r"plans holds a status this release does not know \(row 3: 'paused'"):
        Store(path)
    db = sqlite_utils.Database(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == BEFORE_STATUS_CHECKS
    assert contents(db, REBUILT + KEPT) == before


def test_reminders_of_a_version_9_database_may_then_be_skipped(tmp_path):
    """The tenth migration (rebuilding `reminders` for `skipped`) keeps rows and index."""
    path = tmp_path / "v9.db"
    old = at_version(path, 9)
    fill(old)
    before = contents(old, ("reminders",))
    old.close()
    with Store(path) as store:
        assert contents(store.db, ("reminders",)) == before
        store.db.execute("UPDATE reminders SET status = 'skipped' WHERE id = 2")
        indexes = {row[1] for row in store.db.execute("PRAGMA index_list(reminders)")}
        assert "reminders_due" in indexes


# ------------------------------------------------------------------ statuses


def column_values(store: Store, table: str, column: str, value: str) -> None:
    """Write `value` into `table.column` of a row that is otherwise valid."""
    store.db.execute("SAVEPOINT probe")
    try:
        first = f"rowid = (SELECT min(rowid) FROM {table})"
        store.db.execute(f"UPDATE {table} SET {column} = ? WHERE {first}", (value,))
        assert store.db.execute(f"SELECT {column} FROM {table} WHERE {first}").fetchone()[0] == value
    finally:
        store.db.execute("ROLLBACK TO probe")
        store.db.execute("RELEASE probe")


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    path = tmp_path_factory.mktemp("statuses") / "bot.db"
    db = at_version(path, len(MIGRATIONS))
    fill(db)
    db.close()
    with Store(path) as store:
        store.db.execute(
            "INSERT INTO tickets (id, chat_id, reason, opened_at) VALUES (1, 901, 'asked', ?)", (NOW.isoformat(),)
        )
        store.queue_support_action(1, kind="reply", text="hi", source="console", agent="alice", agent_id=1, at=NOW)
        yield store


@pytest.mark.parametrize(("table", "column"), STATUSES)
def test_every_status_column_takes_each_of_its_enums_values(filled, table, column):
    for value in STATUSES[table, column]:
        column_values(filled, table, column, value)


@pytest.mark.parametrize(("table", "column"), STATUSES)
@given(value=st.text(max_size=12))
def test_every_status_column_refuses_any_other_value(filled, table, column, value):
    if value in set(STATUSES[table, column]):
        return
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
        column_values(filled, table, column, value)


def test_status_columns_are_read_as_their_enums():
    for (table, column), enum in STATUSES.items():
        codec: Codec = TABLES[table][column]
        assert codec.decode(next(iter(enum)).value) is next(iter(enum))
        with pytest.raises(ValueError):
            codec.encode("no-such-status")


# ------------------------------------------------------------------ the column codecs


def test_every_column_the_codecs_name_exists_and_every_time_column_is_read_as_a_time(store):
    for table, codecs in TABLES.items():
        columns = {row[1]: row[2] for row in store.db.execute(f'PRAGMA table_info("{table}")')}
        assert columns, f"no table {table}"
        assert set(codecs) <= set(columns), (table, set(codecs) - set(columns))
        times = {name for name in columns if name == "at" or name.endswith("_at")}
        assert {name for name, codec in codecs.items() if codec is TIME} == times, table
        assert all(columns[name] == "TEXT" for name, codec in codecs.items() if codec.name == "money"), table
    tables = {row[0] for row in store.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == set(TABLES)  # a new table needs its codecs (an empty map when it has none)


def test_a_conversation_reads_the_same_for_the_dialogue_and_for_the_console(store):
    store.save_conversation(
        77,
        step="income",
        data={"income": Decimal("8000.50"), "due": date(2026, 12, 1)},
        version=0,
        locale="en",
        borrower_id=None,
        loan_id=None,
        telegram_user_id=77,
        needs_person=True,
    )
    dialogue, console = store.load_conversation(77), store.support_conversation(77)
    assert dialogue is not None and console is not None
    assert {key: console[key] for key in dialogue if key != "version"} == {
        key: value for key, value in dialogue.items() if key != "version"
    }
    assert dialogue["needs_person"] is True and dialogue["data"] == {"income": "8000.50", "due": "2026-12-01"}
    assert console["updated_at"] == NOW


# ------------------------------------------------------------------ the caller's transaction


@pytest.fixture
def plan_store(store):
    fill(store.db)
    return store


@pytest.mark.parametrize(
    "step",
    [
        lambda s: s.set_instalment_payment(2, 4, paid=Decimal("10"), status=InstalmentStatus.PARTLY_PAID, at=NOW),
        lambda s: s.mark_instalment_missed(2, 4, NOW),
        lambda s: s.cancel_pending_reminders(2, "plan ended"),
        lambda s: s.save_plan_pauses(
            2,
            [
                {
                    "first_date": date(2027, 1, 5),
                    "last_date": date(2027, 2, 5),
                    "months": 2,
                    "interest": "frozen",
                    "capitalised": Decimal(0),
                }
            ],
        ),
    ],
    ids=["set_instalment_payment", "mark_instalment_missed", "cancel_pending_reminders", "save_plan_pauses"],
)
def test_a_step_of_a_larger_change_runs_only_inside_a_transaction(plan_store, step):
    tables = ("installments", "reminders", "plan_pauses", "audit")
    before = contents(plan_store.db, tables)
    with pytest.raises(StoreError, match="inside the caller's transaction"):
        step(plan_store)
    assert contents(plan_store.db, tables) == before
    with plan_store.transaction():
        step(plan_store)
    assert contents(plan_store.db, tables) != before


def test_ending_a_plan_cancels_its_pending_reminders_in_the_same_transaction(plan_store):
    assert plan_store.end_plan(2, PlanStatus.COMPLETED, NOW + timedelta(days=1))
    statuses = [r["status"] for r in plan_store.reminders_for_plan(2)]
    assert statuses == [ReminderStatus.SENT, ReminderStatus.CANCELLED, ReminderStatus.CANCELLED]
    assert plan_store.plan(2)["ended_at"] == NOW + timedelta(days=1)
    assert isinstance(plan_store.plan(2)["ended_at"], datetime)
