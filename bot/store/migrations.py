"""The schema, as an ordered list of migrations.

`PRAGMA user_version` records how many have run, so opening a database twice migrates once and
a database from a newer release is refused (`Store.migrate`). Append new functions to
`MIGRATIONS`; never edit or reorder released ones, because databases in the field have already
run them.

Money columns are TEXT (see `bot.store.codec`): a made-up type such as MONEY or DECIMAL would get
NUMERIC affinity, and SQLite would turn '0.10' back into the float 0.1.

A migration names its tables and columns as they were when it was released, never through a
constant that lives on (`bot.store.codec.TABLES` may grow; the history must not). Changing a
table's constraints means rebuilding it (`_rebuild`): `Store.migrate` runs migrations with
foreign keys off, as SQLite's procedure for that asks, and checks them before each commit.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import sqlite_utils

from bot.errors import StoreError


def _rebuild(db: sqlite_utils.Database, table: str, change: Callable[[str], str]) -> None:
    """Rebuild `table` with its CREATE statement changed by `change` (SQLite cannot add or
    change a constraint in place): the new table is made beside it, the rows copied, the old
    one dropped and the new one renamed in its place, and its indexes made again. Tables that
    refer to it keep referring to it by name. Foreign keys must be off (`Store.migrate`)."""
    sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", [table]).fetchone()[0]
    indexes = [
        row[0]
        for row in db.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL", [table]
        )
    ]
    changed = change(sql)
    if changed == sql:
        raise RuntimeError(f"rebuilding {table}: the change found nothing to change")
    rebuilt = f"{table}_rebuilt"
    db.execute(re.sub(r'^CREATE TABLE\s+("?)\w+\1', f'CREATE TABLE "{rebuilt}"', changed, count=1))
    columns = ", ".join(f'"{row[1]}"' for row in db.execute(f'PRAGMA table_info("{table}")'))
    db.execute(f'INSERT INTO "{rebuilt}" ({columns}) SELECT {columns} FROM "{table}"')
    db.execute(f'DROP TABLE "{table}"')
    db.execute(f'ALTER TABLE "{rebuilt}" RENAME TO "{table}"')
    for index in indexes:
        db.execute(index)


def _v1_initial(db: sqlite_utils.Database) -> None:
    def money(*columns: str) -> str:
        return ", ".join(f"{column} TEXT NOT NULL" for column in columns)

    loan_money = money(
        "outstanding_principal",
        "overdue_principal",
        "overdue_interest",
        "penalty_fees",
        "annual_rate",
        "monthly_payment",
    )
    plan_money = money("monthly_min", "monthly_max", "total_repayable", "apr")
    inst_money = money("amount", "principal", "interest", "fees")
    statements = [
        """CREATE TABLE borrowers (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            phone TEXT NOT NULL UNIQUE,
            id_last4 TEXT NOT NULL,
            locale TEXT,
            telegram_user_id INTEGER UNIQUE,
            telegram_chat_id INTEGER,
            created_at TEXT NOT NULL)""",
        f"""CREATE TABLE loans (
            loan_id TEXT PRIMARY KEY,
            borrower_id INTEGER NOT NULL REFERENCES borrowers(id),
            product TEXT NOT NULL,
            currency TEXT NOT NULL,
            {loan_money},
            remaining_term_months INTEGER NOT NULL,
            days_past_due INTEGER NOT NULL,
            next_due_date TEXT NOT NULL,
            prior_restructures INTEGER NOT NULL DEFAULT 0,
            on_time_payments_last_12 INTEGER,
            imported_at TEXT NOT NULL,
            updated_at TEXT NOT NULL)""",
        "CREATE INDEX loans_borrower ON loans(borrower_id)",
        """CREATE TABLE invites (
            token TEXT PRIMARY KEY,
            loan_id TEXT NOT NULL REFERENCES loans(loan_id),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            used_at TEXT,
            used_by_chat INTEGER)""",
        """CREATE TABLE conversations (
            chat_id INTEGER PRIMARY KEY,
            telegram_user_id INTEGER,
            borrower_id INTEGER REFERENCES borrowers(id),
            loan_id TEXT REFERENCES loans(loan_id),
            step TEXT NOT NULL,
            data TEXT NOT NULL,
            locale TEXT,
            version INTEGER NOT NULL,
            updated_at TEXT NOT NULL,
            needs_person INTEGER NOT NULL DEFAULT 0)""",
        """CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            chat_id INTEGER NOT NULL,
            borrower_id INTEGER,
            step TEXT,
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            text TEXT NOT NULL,
            buttons TEXT,
            update_id INTEGER)""",
        # One incoming message per Telegram update: a redelivered update is a duplicate.
        "CREATE UNIQUE INDEX messages_update ON messages(update_id) WHERE direction = 'in'",
        "CREATE INDEX messages_chat ON messages(chat_id, at)",
        f"""CREATE TABLE plans (
            id INTEGER PRIMARY KEY,
            loan_id TEXT NOT NULL REFERENCES loans(loan_id),
            borrower_id INTEGER NOT NULL REFERENCES borrowers(id),
            option_id TEXT NOT NULL,
            structure TEXT NOT NULL,
            currency TEXT NOT NULL,
            payments INTEGER NOT NULL,
            first_due_date TEXT NOT NULL,
            {plan_money},
            accepted_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'active',
            terms TEXT NOT NULL,
            consent_text TEXT NOT NULL,
            consent_sha256 TEXT NOT NULL,
            consent_user_id INTEGER,
            consent_update_id INTEGER,
            UNIQUE (loan_id, consent_update_id))""",
        f"""CREATE TABLE installments (
            plan_id INTEGER NOT NULL REFERENCES plans(id),
            number INTEGER NOT NULL,
            due_date TEXT NOT NULL,
            kind TEXT NOT NULL DEFAULT 'instalment',
            {inst_money},
            status TEXT NOT NULL DEFAULT 'due',
            PRIMARY KEY (plan_id, number))""",
        """CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            event TEXT NOT NULL,
            chat_id INTEGER,
            borrower_id INTEGER,
            loan_id TEXT,
            details TEXT NOT NULL)""",
        """CREATE TABLE identification_attempts (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            at TEXT NOT NULL,
            ok INTEGER NOT NULL)""",
        "CREATE INDEX identification_chat ON identification_attempts(chat_id, at)",
    ]
    for statement in statements:
        db.execute(statement)


def _v2_after_agreement(db: sqlite_utils.Database) -> None:
    """Plan life, payments, the reminder outbox and broadcasts."""
    statements = [
        "ALTER TABLE installments ADD COLUMN paid TEXT NOT NULL DEFAULT '0'",
        "ALTER TABLE installments ADD COLUMN paid_at TEXT",
        "ALTER TABLE installments ADD COLUMN reported TEXT",
        "ALTER TABLE installments ADD COLUMN reported_at TEXT",
        "CREATE INDEX installments_status_due ON installments(status, due_date)",
        "ALTER TABLE plans ADD COLUMN superseded_by INTEGER REFERENCES plans(id)",
        "ALTER TABLE plans ADD COLUMN ended_at TEXT",
        "CREATE INDEX plans_loan ON plans(loan_id, status)",
        "ALTER TABLE borrowers ADD COLUMN unreachable_at TEXT",
        "ALTER TABLE borrowers ADD COLUMN timezone TEXT",
        """CREATE TABLE payments (
            id INTEGER PRIMARY KEY,
            loan_id TEXT NOT NULL REFERENCES loans(loan_id),
            plan_id INTEGER REFERENCES plans(id),
            amount TEXT NOT NULL,
            unapplied TEXT NOT NULL DEFAULT '0',
            paid_at TEXT NOT NULL,
            reference TEXT NOT NULL UNIQUE,
            source TEXT NOT NULL,
            imported_at TEXT NOT NULL)""",
        # The outbox: one row per reminder, in exactly one state; `cancelled` is for reminders
        # of a plan that was superseded or ended before they were due.
        """CREATE TABLE reminders (
            id INTEGER PRIMARY KEY,
            plan_id INTEGER NOT NULL REFERENCES plans(id),
            installment_number INTEGER NOT NULL,
            borrower_id INTEGER NOT NULL REFERENCES borrowers(id),
            kind TEXT NOT NULL,
            send_at TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'blocked', 'cancelled')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            next_attempt_at TEXT,
            sent_at TEXT,
            created_at TEXT NOT NULL,
            UNIQUE (plan_id, installment_number, kind))""",
        "CREATE INDEX reminders_due ON reminders(status, send_at)",
        """CREATE TABLE broadcasts (
            id INTEGER PRIMARY KEY,
            segment TEXT NOT NULL,
            template TEXT,
            message_text TEXT,
            rate INTEGER NOT NULL,
            paid INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            created_by TEXT,
            status TEXT NOT NULL DEFAULT 'pending',
            finished_at TEXT)""",
        """CREATE TABLE broadcast_recipients (
            broadcast_id INTEGER NOT NULL REFERENCES broadcasts(id),
            borrower_id INTEGER NOT NULL REFERENCES borrowers(id),
            chat_id INTEGER NOT NULL,
            locale TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'sent', 'failed', 'blocked')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            sent_at TEXT,
            PRIMARY KEY (broadcast_id, borrower_id))""",
        "CREATE INDEX broadcast_recipients_status ON broadcast_recipients(broadcast_id, status)",
    ]
    for statement in statements:
        db.execute(statement)


def _v3_support(db: sqlite_utils.Database) -> None:
    """Support accounts, sessions, notes, and hand-off tickets with their relayed messages."""
    statements = [
        """CREATE TABLE support_users (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0)""",
        """CREATE TABLE support_sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES support_users(id),
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL)""",
        """CREATE TABLE support_login_attempts (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            client TEXT,
            at TEXT NOT NULL,
            ok INTEGER NOT NULL)""",
        "CREATE INDEX support_login_attempts_name ON support_login_attempts(name, at)",
        """CREATE TABLE support_notes (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            author_id INTEGER NOT NULL REFERENCES support_users(id),
            at TEXT NOT NULL,
            text TEXT NOT NULL)""",
        "CREATE INDEX support_notes_chat ON support_notes(chat_id, at)",
        """CREATE TABLE tickets (
            id INTEGER PRIMARY KEY,
            chat_id INTEGER NOT NULL,
            borrower_id INTEGER REFERENCES borrowers(id),
            loan_id TEXT REFERENCES loans(loan_id),
            reason TEXT NOT NULL,
            resume_step TEXT,
            card_message_id INTEGER,
            opened_at TEXT NOT NULL,
            closed_at TEXT,
            closed_by INTEGER)""",
        "CREATE UNIQUE INDEX tickets_one_open ON tickets(chat_id) WHERE closed_at IS NULL",
        """CREATE TABLE relayed_messages (
            support_message_id INTEGER PRIMARY KEY,
            ticket_id INTEGER NOT NULL REFERENCES tickets(id),
            at TEXT NOT NULL)""",
    ]
    for statement in statements:
        db.execute(statement)


def _v4_support_idle(db: sqlite_utils.Database) -> None:
    """Support sessions remember their last request (idle timeout); sessions by user."""
    db.execute("ALTER TABLE support_sessions ADD COLUMN last_seen_at TEXT")
    db.execute("CREATE INDEX support_sessions_user ON support_sessions(user_id)")


def _v5_reply_delivery(db: sqlite_utils.Database) -> None:
    """Replies remember the update they answer, how to send them again, and when they were
    delivered: after a crash, a redelivered update resends exactly the replies not yet sent."""
    db.execute("ALTER TABLE messages ADD COLUMN in_reply_to INTEGER")
    db.execute("ALTER TABLE messages ADD COLUMN meta TEXT")
    db.execute("ALTER TABLE messages ADD COLUMN sent_at TEXT")
    db.execute("CREATE INDEX messages_reply ON messages(in_reply_to) WHERE in_reply_to IS NOT NULL")


def _v6_attempts_by_loan(db: sqlite_utils.Database) -> None:
    """Failed identifications also remember the loan number tried, so guesses at one loan are
    limited across every chat and account, not only per chat."""
    db.execute("ALTER TABLE identification_attempts ADD COLUMN loan_id TEXT")
    db.execute("CREATE INDEX identification_loan ON identification_attempts(loan_id, at) WHERE loan_id IS NOT NULL")


def _v7_inbox_and_dead_letters(db: sqlite_utils.Database) -> None:
    """The webhook's inbox (an update is stored here before Telegram is told it arrived, and
    leaves once handled) and the dead letters (updates that cannot be handled, kept with their
    raw JSON and the error). `telegram_ids` lists the user and chat ids found in the raw JSON,
    so `forget` can find a borrower's dead letters."""
    db.execute("""CREATE TABLE inbox (
        id INTEGER PRIMARY KEY,
        update_id INTEGER UNIQUE,
        raw TEXT NOT NULL,
        received_at TEXT NOT NULL,
        telegram_ids TEXT NOT NULL DEFAULT '[]')""")
    db.execute("""CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY,
        update_id INTEGER,
        raw TEXT NOT NULL,
        raw_sha256 TEXT NOT NULL UNIQUE,
        error TEXT NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('polling', 'webhook')),
        received_at TEXT NOT NULL,
        telegram_ids TEXT NOT NULL DEFAULT '[]')""")


def _v8_support_login_backoff(db: sqlite_utils.Database) -> None:
    """Console logins back off instead of locking: attempts refused while backing off are
    recorded apart (they are no failures), failures are counted per address too, and a browser
    an agent signed in from before is remembered (only the SHA-256 of its token is stored)."""
    db.execute("ALTER TABLE support_login_attempts ADD COLUMN refused INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX support_login_attempts_client ON support_login_attempts(client, at)")
    db.execute("""CREATE TABLE support_known_browsers (
        token_hash TEXT PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES support_users(id),
        created_at TEXT NOT NULL)""")
    db.execute("CREATE INDEX support_known_browsers_user ON support_known_browsers(user_id)")


def _v9_support_outbox(db: sqlite_utils.Database) -> None:
    """What agents do to a hand-off - a reply, closing it - from the web console or the support
    group, in the order given, until the bot process has done it (or given up, saying why)."""
    db.execute("""CREATE TABLE support_outbox (
        id INTEGER PRIMARY KEY,
        ticket_id INTEGER NOT NULL REFERENCES tickets(id),
        chat_id INTEGER NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('reply', 'close')),
        text TEXT CHECK ((kind = 'reply') = (text IS NOT NULL)),
        source TEXT NOT NULL CHECK (source IN ('console', 'telegram')),
        agent TEXT NOT NULL,
        agent_id INTEGER,
        created_at TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sending', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        pieces_sent INTEGER NOT NULL DEFAULT 0,
        next_try_at TEXT NOT NULL,
        claimed_at TEXT,
        done_at TEXT,
        error TEXT)""")
    db.execute("CREATE INDEX support_outbox_due ON support_outbox(status, next_try_at)")
    db.execute("CREATE INDEX support_outbox_chat ON support_outbox(chat_id, id)")


def _v10_reminders_skipped(db: sqlite_utils.Database) -> None:
    """A reminder may end `skipped`: its moment passed by more than its kind allows (a "due
    today" a day late), so it is recorded, not sent. SQLite cannot change a CHECK constraint
    in place: the table is rebuilt, rows and index kept."""
    _rebuild(db, "reminders", lambda sql: sql.replace("'blocked', 'cancelled')", "'blocked', 'cancelled', 'skipped')"))


def _v11_attempts_by_account(db: sqlite_utils.Database) -> None:
    """Failed identifications remember the Telegram account, so the lockout follows a person
    across chats (a group, a private chat) instead of one chat."""
    db.execute("ALTER TABLE identification_attempts ADD COLUMN user_id INTEGER")
    db.execute("CREATE INDEX identification_user ON identification_attempts(user_id, at) WHERE user_id IS NOT NULL")


def _status_check(default: str, values: tuple[str, ...]) -> Callable[[str], str]:
    """A CREATE TABLE change: the `status` column (declared with `default`) takes only `values`."""
    declared = f"status TEXT NOT NULL DEFAULT '{default}'"
    allowed = ", ".join(f"'{value}'" for value in values)
    return lambda sql: sql.replace(declared, f"{declared} CHECK (status IN ({allowed}))", 1)


def _v12_status_checks(db: sqlite_utils.Database) -> None:
    """The statuses without a CHECK constraint get one (their values: `bot.store.statuses`), so
    no writer - the bot, a script, a hand-typed UPDATE - can store a state the code does not
    know. A row holding another value stops the migration, naming it."""
    statuses = {
        "plans": ("active", ("active", "completed", "broken", "superseded")),
        "installments": ("due", ("due", "partly_paid", "paid", "missed")),
        "broadcasts": ("pending", ("pending", "sending", "interrupted", "finished")),
    }
    for table, (default, values) in statuses.items():
        unknown = db.execute(
            f"SELECT rowid, status FROM {table} WHERE status NOT IN ({', '.join('?' * len(values))})"
            " ORDER BY rowid LIMIT 5",
            values,
        ).fetchall()
        if unknown:
            found = ", ".join(f"row {rowid}: {status!r}" for rowid, status in unknown)
            raise StoreError(
                f"{table} holds a status this release does not know ({found}; allowed: "
                f"{', '.join(values)}): correct it, then open the database again"
            )
        _rebuild(db, table, _status_check(default, values))


def _v13_plan_pauses(db: sqlite_utils.Database) -> None:
    """A plan's pauses (a payment holiday, a seasonal plan's low season): due dates with
    nothing to pay. They are not instalments, so nothing reminds of them or marks them missed;
    they are kept to show the borrower, the chart and the support console when they come."""
    db.execute("""CREATE TABLE plan_pauses (
            plan_id INTEGER NOT NULL REFERENCES plans(id),
            first_date TEXT NOT NULL,
            last_date TEXT NOT NULL,
            months INTEGER NOT NULL CHECK (months > 0),
            interest TEXT NOT NULL CHECK (interest IN ('frozen', 'capitalised')),
            capitalised TEXT NOT NULL,
            PRIMARY KEY (plan_id, first_date))""")


#: The schema, in order. Append new functions; never edit or reorder released ones.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1_initial,
    _v2_after_agreement,
    _v3_support,
    _v4_support_idle,
    _v5_reply_delivery,
    _v6_attempts_by_loan,
    _v7_inbox_and_dead_letters,
    _v8_support_login_backoff,
    _v9_support_outbox,
    _v10_reminders_skipped,
    _v11_attempts_by_account,
    _v12_status_checks,
    _v13_plan_pauses,
]
