"""The store's core: the connection, its settings, migrations run on open, transactions, and the
rows every conversation needs (borrowers, loans, invitations, conversations, messages, audit,
agreed plans). The other areas' SQL lives beside it in `bot/store/`, one module per area.

Why it looks like this:

* Money is TEXT. sqlite-utils (and sqlite3) would store a `Decimal` as REAL, i.e. a float, so
  every amount is written as a plain decimal string (`format(d, "f")`) and read back as
  `Decimal` here and nowhere else; `_money` refuses floats outright. The columns must be
  declared TEXT: a made-up type such as MONEY or DECIMAL gets NUMERIC affinity, and SQLite
  would turn '0.10' back into the float 0.1.
* Times are TEXT in UTC with microseconds (`2024-05-01T04:00:00.000000+00:00`), so comparing
  the strings compares the instants. Callers pass timezone-aware datetimes; naive ones are
  refused because nobody could tell which zone they meant.
* Every write that belongs with another runs inside `Store.transaction()` (BEGIN IMMEDIATE;
  nested blocks become savepoints via sqlite-utils' `db.atomic()`). A bare `with conn:` is
  NOT enough with sqlite-utils 4, whose `execute` and table methods commit on their own.
* The schema is a list of migrations; `PRAGMA user_version` records how many have run, so
  opening a database twice migrates once, and a database from a newer release is refused.
* The file holds personal data: it is created readable by its owner only (0600; SQLite gives
  its -wal and -shm the same), and every connection runs with `secure_delete`, so what is
  deleted or overwritten is zeroed rather than left in free pages (see `bot.store.privacy`).
* Conversations are saved with optimistic concurrency (a `version` column), so two processes
  answering the same chat cannot silently overwrite each other.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.errors import ConflictError, InviteError, StoreError
from bot.store import migrations
from bot.store.broadcasts import BroadcastQueries
from bot.store.imports import ImportQueries
from bot.store.inbox import InboxQueries
from bot.store.codec import (
    from_timestamp,
    to_day,
    to_decimal,
    to_json,
    to_money_text,
    to_timestamp,
    utc_now,
)
from bot.store.migrations import INSTALLMENT_AMOUNTS, LOAN_AMOUNTS, PLAN_AMOUNTS
from bot.store.plans import PlanLifeQueries
from bot.store.privacy import PrivacyQueries, create_private
from bot.store.reports import ReportQueries
from bot.store.support import SupportQueries
from bot.store.tickets import TicketQueries
from plans.models import regular_range

Clock = Callable[[], datetime]

# ------------------------------------------------------------------ the store


class Store(ImportQueries, PlanLifeQueries, BroadcastQueries, ReportQueries, SupportQueries, TicketQueries,
            PrivacyQueries, InboxQueries):
    """Everything the bot remembers. `path` may be ":memory:" (tests)."""

    def __init__(self, path: str | Path, *, clock: Clock = utc_now) -> None:
        self.path = str(path)
        self.clock = clock
        if self.path != ":memory:":
            create_private(self.path)
        self.db = sqlite_utils.Database(self.path)
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.execute("PRAGMA busy_timeout = 5000")
        # Deleted and overwritten content is zeroed, not left in free pages of the file where
        # anyone holding a copy could read it (`forget`; inbox rows holding whole updates).
        self.db.execute("PRAGMA secure_delete = ON")
        if self.path != ":memory:":
            self.db.enable_wal()
            # In WAL mode NORMAL stays consistent after a crash of the process (or of the whole
            # machine); only the last commits before a power cut may be lost. FULL would fsync
            # every turn of every conversation.
            self.db.execute("PRAGMA synchronous = NORMAL")
        try:
            self.migrate()
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return self.db.execute("PRAGMA user_version").fetchone()[0]

    def migrate(self) -> int:
        """Run the migrations this database has not seen, each in its own transaction.
        An up-to-date database is only read: opening it never waits for the bot's writes."""
        schema = migrations.MIGRATIONS
        if self.schema_version == len(schema):
            return len(schema)
        while True:
            with self.transaction():
                current = self.schema_version
                if current > len(schema):
                    raise StoreError(
                        f"{self.path}: schema version {current} is newer than this release "
                        f"knows ({len(schema)}); upgrade restructure-bot"
                    )
                if current == len(schema):
                    return current
                schema[current](self.db)
                self.db.execute(f"PRAGMA user_version = {current + 1}")

    @contextmanager
    def transaction(self) -> Iterator["Store"]:
        """Group store calls into one transaction; nested blocks become savepoints.

        The outermost block starts with BEGIN IMMEDIATE, taking the write lock before
        anything is read: with a plain BEGIN, a read-then-write transaction fails outright
        (SQLITE_BUSY, no waiting) when another process wrote in between - for example the
        bot and a `loans import`, or two processes migrating a fresh file.
        """
        if self.db.conn.in_transaction:
            with self.db.atomic():
                yield self
            return
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self.db.rollback()
            raise
        self.db.commit()

    @contextmanager
    def rolled_back(self) -> Iterator["Store"]:
        """A transaction that is always rolled back, for a dry run: everything a real run
        writes is written (and can be read back inside), then undone. It holds the write lock
        meanwhile, as the real run would."""
        if self.db.conn.in_transaction:
            raise StoreError("a dry run cannot start inside another transaction")
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self
        finally:
            self.db.rollback()

    def _rows(self, sql: str, params: tuple | list | dict = ()) -> Iterator[dict]:
        """The rows of a SELECT as dicts, read straight from the connection. sqlite-utils'
        `Database.query` would wrap each one in SAVEPOINT ... RELEASE and parse its first
        keyword: three statements for one read, on every turn of every conversation."""
        cursor = self.db.conn.execute(sql, params)
        keys = [column[0] for column in cursor.description]
        if len(set(keys)) != len(keys):
            raise StoreError(f"a query returns two columns of the same name: {keys}")
        return (dict(zip(keys, row)) for row in cursor)

    def _one(self, sql: str, params: tuple | dict = ()) -> dict | None:
        return next(self._rows(sql, params), None)

    # -------------------------------------------------------------- borrowers and loans
    # (writing them: `bot.store.imports`)

    @staticmethod
    def _loan(row: dict) -> dict:
        for column in LOAN_AMOUNTS:
            row[column] = to_decimal(row[column])
        row["next_due_date"] = date.fromisoformat(row["next_due_date"])
        row["imported_at"] = from_timestamp(row["imported_at"])
        row["updated_at"] = from_timestamp(row["updated_at"])
        return row

    def get_loan(self, loan_id: str) -> dict | None:
        """The loan with amounts as Decimal and next_due_date as a date, or None."""
        row = self._one("SELECT * FROM loans WHERE loan_id = ?", (loan_id,))
        return None if row is None else self._loan(row)

    def loans_for_borrower(self, borrower_id: int) -> list[dict]:
        rows = self._rows("SELECT * FROM loans WHERE borrower_id = ? ORDER BY loan_id", (borrower_id,))
        return [self._loan(row) for row in rows]

    @staticmethod
    def _borrower(row: dict | None) -> dict | None:
        if row is not None:
            row["created_at"] = from_timestamp(row["created_at"])
        return row

    def get_borrower(self, borrower_id: int) -> dict | None:
        return self._borrower(self._one("SELECT * FROM borrowers WHERE id = ?", (borrower_id,)))

    def borrower_by_telegram(self, user_id: int) -> dict | None:
        return self._borrower(
            self._one("SELECT * FROM borrowers WHERE telegram_user_id = ?", (user_id,))
        )

    def bind_telegram(self, borrower_id: int, user_id: int, chat_id: int) -> None:
        """Link a borrower to a Telegram account; refuse to move the link to another account."""
        with self.transaction():
            borrower = self.get_borrower(borrower_id)
            if borrower is None:
                raise StoreError(f"no borrower {borrower_id}")
            bound = borrower["telegram_user_id"]
            if bound is not None and bound != user_id:
                raise StoreError(f"borrower {borrower_id} is already linked to another Telegram account")
            other = self.borrower_by_telegram(user_id)
            if other is not None and other["id"] != borrower_id:
                raise StoreError(f"Telegram user {user_id} is already linked to another borrower")
            self.db.execute(
                "UPDATE borrowers SET telegram_user_id = ?, telegram_chat_id = ? WHERE id = ?",
                (user_id, chat_id, borrower_id),
            )

    def set_borrower_locale(self, borrower_id: int, locale: str) -> None:
        if self.db.execute("UPDATE borrowers SET locale = ? WHERE id = ?", (locale, borrower_id)).rowcount != 1:
            raise StoreError(f"no borrower {borrower_id}")

    # -------------------------------------------------------------- invitations

    def create_invite(self, loan_id: str, now: datetime, ttl_days: int) -> str:
        """A fresh single-use token for a deep link (URL-safe: [A-Za-z0-9_-], 22 chars)."""
        if self._one("SELECT 1 FROM loans WHERE loan_id = ?", (loan_id,)) is None:
            raise StoreError(f"no loan {loan_id!r}")
        token = secrets.token_urlsafe(16)
        self.db.execute(
            "INSERT INTO invites (token, loan_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
            (token, loan_id, to_timestamp(now), to_timestamp(now + timedelta(days=ttl_days))),
        )
        return token

    @staticmethod
    def _invite_problem(invite: dict | None, at: str) -> str | None:
        if invite is None:
            return "unknown"
        if invite["used_at"] is not None:
            return "used"
        if invite["expires_at"] <= at:
            return "expired"
        return None

    def peek_invite(self, token: str, now: datetime) -> str:
        """The loan a usable token is for; InviteError(unknown|used|expired) otherwise."""
        invite = self._one("SELECT * FROM invites WHERE token = ?", (token,))
        problem = self._invite_problem(invite, to_timestamp(now))
        if problem:
            raise InviteError(problem)
        return invite["loan_id"]

    def redeem_invite(self, token: str, now: datetime, chat_id: int) -> str:
        """Use a token once. One conditional UPDATE decides, so two chats racing cannot both win."""
        at = to_timestamp(now)
        cursor = self.db.execute(
            "UPDATE invites SET used_at = ?, used_by_chat = ?"
            " WHERE token = ? AND used_at IS NULL AND expires_at > ?",
            (at, chat_id, token, at),
        )
        invite = self._one("SELECT * FROM invites WHERE token = ?", (token,))
        if cursor.rowcount != 1:
            raise InviteError(self._invite_problem(invite, at) or "used")
        return invite["loan_id"]

    # -------------------------------------------------------------- conversations

    def load_conversation(self, chat_id: int) -> dict | None:
        row = self._one(
            "SELECT step, data, version, locale, borrower_id, loan_id, telegram_user_id,"
            " needs_person FROM conversations WHERE chat_id = ?",
            (chat_id,),
        )
        if row is not None:
            row["data"] = json.loads(row["data"])
            row["needs_person"] = bool(row["needs_person"])
        return row

    def save_conversation(
        self, chat_id: int, *, step: str, data: dict, version: int, locale: str | None,
        borrower_id: int | None, loan_id: str | None, telegram_user_id: int | None,
        needs_person: bool = False,
    ) -> int:
        """Save if nobody else did since `version` was loaded (0 = new); return the new version.

        `data` is stored as JSON: Decimal and dates come back as strings, which the
        dialogue's pydantic models read back into Decimal and date.
        """
        values = {
            "step": step, "data": to_json(data), "locale": locale, "borrower_id": borrower_id,
            "loan_id": loan_id, "telegram_user_id": telegram_user_id,
            "needs_person": int(needs_person), "updated_at": to_timestamp(self.clock()),
            "version": version + 1, "chat_id": chat_id,
        }
        if version == 0:
            cursor = self.db.execute(
                f"INSERT INTO conversations ({', '.join(values)})"
                f" VALUES ({', '.join(':' + c for c in values)}) ON CONFLICT (chat_id) DO NOTHING",
                values,
            )
        else:
            sets = ", ".join(f"{c} = :{c}" for c in values if c != "chat_id")
            cursor = self.db.execute(
                f"UPDATE conversations SET {sets} WHERE chat_id = :chat_id AND version = :expected",
                {**values, "expected": version},
            )
        if cursor.rowcount != 1:
            raise ConflictError(f"conversation {chat_id} changed since version {version} was loaded")
        return version + 1

    def delete_conversation(self, chat_id: int) -> None:
        self.db.execute("DELETE FROM conversations WHERE chat_id = ?", (chat_id,))

    # -------------------------------------------------------------- messages and audit

    def log_message(
        self, *, direction: str, chat_id: int, text: str, at: datetime, step: str | None = None,
        borrower_id: int | None = None, buttons: Any = None, update_id: int | None = None,
    ) -> bool:
        """Record a message. For an incoming one, False means this Telegram update was
        already logged: a redelivery, which the caller must not process again."""
        if direction not in ("in", "out"):
            raise StoreError(f"direction must be 'in' or 'out', not {direction!r}")
        cursor = self.db.execute(
            "INSERT INTO messages (at, chat_id, borrower_id, step, direction, text, buttons, update_id)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT (update_id) WHERE direction = 'in' DO NOTHING",
            (to_timestamp(at), chat_id, borrower_id, step, direction, text,
             None if buttons is None else to_json(buttons), update_id),
        )
        return cursor.rowcount == 1

    def log_reply(self, *, chat_id: int, text: str, at: datetime, step: str | None, borrower_id: int | None,
                  buttons: Any, in_reply_to: int | None, meta: dict[str, Any]) -> int:
        """Record an outgoing message before it is sent; its id is marked sent afterwards."""
        return self.db.execute(
            "INSERT INTO messages (at, chat_id, borrower_id, step, direction, text, buttons, in_reply_to, meta)"
            " VALUES (?, ?, ?, ?, 'out', ?, ?, ?, ?)",
            (to_timestamp(at), chat_id, borrower_id, step, text, None if buttons is None else to_json(buttons),
             in_reply_to, to_json(meta)),
        ).lastrowid

    def forget_chat_texts(self, chat_id: int) -> int:
        """Keep no text of a chat's messages (the borrower declined the privacy notice): the
        rows stay, empty, so a redelivered update is still known; how many were emptied."""
        return self.db.execute("UPDATE messages SET text = '', buttons = NULL WHERE chat_id = ?",
                               (chat_id,)).rowcount

    def mark_sent(self, message_id: int, at: datetime) -> None:
        self.db.execute("UPDATE messages SET sent_at = ? WHERE id = ?", (to_timestamp(at), message_id))

    def unsent_replies(self, update_id: int) -> list[dict]:
        """Replies to `update_id` recorded but not known to be delivered, in order."""
        rows = self._rows("SELECT id, text, buttons, meta FROM messages WHERE in_reply_to = ?"
                             " AND direction = 'out' AND sent_at IS NULL ORDER BY id", (update_id,))
        return [{**row, "buttons": json.loads(row["buttons"]) if row["buttons"] else [],
                 "meta": json.loads(row["meta"]) if row["meta"] else {}} for row in rows]

    def audit(self, event: str, *, at: datetime, chat_id: int | None = None,
              borrower_id: int | None = None, loan_id: str | None = None, **details: Any) -> None:
        self.db.execute(
            "INSERT INTO audit (at, event, chat_id, borrower_id, loan_id, details) VALUES (?, ?, ?, ?, ?, ?)",
            (to_timestamp(at), event, chat_id, borrower_id, loan_id, to_json(details)),
        )

    def last_audit_id(self) -> int:
        return self.db.execute("SELECT coalesce(max(id), 0) FROM audit").fetchone()[0]

    def audit_since(self, audit_id: int) -> list[dict]:
        """Audit events recorded after `audit_id`, oldest first, details as a dict."""
        return [{**row, "details": json.loads(row["details"])}
                for row in self._rows("SELECT * FROM audit WHERE id > ? ORDER BY id", (audit_id,))]

    def record_identification_attempt(self, chat_id: int, ok: bool, at: datetime, loan_id: str | None = None,
                                      user_id: int | None = None) -> None:
        self.db.execute(
            "INSERT INTO identification_attempts (chat_id, at, ok, loan_id, user_id) VALUES (?, ?, ?, ?, ?)",
            (chat_id, to_timestamp(at), int(ok), loan_id, user_id),
        )

    def failed_identifications_for_loan(self, loan_id: str, since: datetime) -> int:
        return self.db.execute(
            "SELECT count(*) FROM identification_attempts WHERE loan_id = ? AND ok = 0 AND at >= ?",
            (loan_id, to_timestamp(since)),
        ).fetchone()[0]

    def failed_identifications_by_account(self, user_id: int, since: datetime) -> int:
        """Failures of one Telegram account since `since`, from whichever chat."""
        return self.db.execute(
            "SELECT count(*) FROM identification_attempts WHERE user_id = ? AND ok = 0 AND at >= ?",
            (user_id, to_timestamp(since)),
        ).fetchone()[0]

    # -------------------------------------------------------------- plans

    def save_plan(
        self, *, loan_id: str, borrower_id: int, option: dict, installments: list[dict],
        consent_text: str, consent_user_id: int | None, consent_update_id: int | None,
        accepted_at: datetime,
    ) -> int:
        """Record an accepted plan and its installments in one transaction; return its id.

        `option` needs option_id, structure, currency, total_repayable and apr (the whole dict
        is kept as `terms`). Each installment needs number, due_date, amount (or `payment`, as
        in the engine's schedule rows), principal, interest, fees and optionally kind.
        The same (loan_id, consent_update_id) twice - a double tap - records one plan.
        """
        rows = [self._installment(item) for item in installments]
        if not rows:
            raise StoreError("a plan needs at least one installment")
        try:
            low, high = regular_range([(r["kind"], Decimal(r["amount"])) for r in rows], option["currency"])
        except KeyError as exc:
            raise StoreError(f"the option has no {exc.args[0]!r}") from None
        try:
            plan = {
                "loan_id": loan_id, "borrower_id": borrower_id,
                "option_id": str(option["option_id"]), "structure": str(option["structure"]),
                "currency": option["currency"], "payments": len(rows),
                "first_due_date": min(r["due_date"] for r in rows),
                "monthly_min": to_money_text(low), "monthly_max": to_money_text(high),
                "total_repayable": to_money_text(option["total_repayable"]), "apr": to_money_text(option["apr"]),
                "accepted_at": to_timestamp(accepted_at), "terms": to_json(option),
                "consent_text": consent_text,
                "consent_sha256": hashlib.sha256(consent_text.encode("utf-8")).hexdigest(),
                "consent_user_id": consent_user_id, "consent_update_id": consent_update_id,
            }
        except KeyError as exc:
            raise StoreError(f"the option has no {exc.args[0]!r}") from None
        with self.transaction():
            cursor = self.db.execute(
                f"INSERT INTO plans ({', '.join(plan)}) VALUES ({', '.join(':' + c for c in plan)})"
                " ON CONFLICT (loan_id, consent_update_id) DO NOTHING",
                plan,
            )
            if cursor.rowcount == 0:
                return self._one(
                    "SELECT id FROM plans WHERE loan_id = ? AND consent_update_id = ?",
                    (loan_id, consent_update_id),
                )["id"]
            plan_id = cursor.lastrowid
            for row in rows:
                self.db.execute(
                    f"INSERT INTO installments (plan_id, {', '.join(row)})"
                    f" VALUES (:plan_id, {', '.join(':' + c for c in row)})",
                    {"plan_id": plan_id, **row},
                )
        return plan_id

    @staticmethod
    def _installment(item: dict) -> dict:
        try:
            return {
                "number": int(item["number"]),
                "due_date": to_day(item["due_date"]),
                "kind": item.get("kind", "instalment"),
                "amount": to_money_text(item["amount"] if "amount" in item else item["payment"]),
                **{c: to_money_text(item[c]) for c in ("principal", "interest", "fees")},
            }
        except KeyError as exc:
            raise StoreError(f"an installment has no {exc.args[0]!r}") from None

    def list_plans(self, *, plan_id: int | None = None) -> list[dict]:
        """Accepted plans (or the one `plan_id`), newest first, amounts as Decimal and `terms`
        as a dict."""
        plans = []
        where, params = ("WHERE id = ?", (plan_id,)) if plan_id is not None else ("", ())
        for row in self._rows(f"SELECT * FROM plans {where} ORDER BY accepted_at DESC, id DESC", params):
            for column in PLAN_AMOUNTS:
                row[column] = to_decimal(row[column])
            row["first_due_date"] = date.fromisoformat(row["first_due_date"])
            row["accepted_at"] = from_timestamp(row["accepted_at"])
            row["terms"] = json.loads(row["terms"])
            plans.append(row)
        return plans

    def plan_installments(self, plan_id: int) -> list[dict]:
        rows = []
        for row in self._rows("SELECT * FROM installments WHERE plan_id = ? ORDER BY number", (plan_id,)):
            for column in (*INSTALLMENT_AMOUNTS, "paid", "reported"):
                row[column] = to_decimal(row[column])
            row["due_date"] = date.fromisoformat(row["due_date"])
            rows.append(row)
        return rows
