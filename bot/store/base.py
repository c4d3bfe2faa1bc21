"""What every area of the store stands on: the connection, the clock, reading rows, transactions
and the audit trail. Each area (`bot.store.plans`, `bot.store.tickets`, ...) is a class deriving
from `StoreBase`; `bot.store.core.Store` derives from them all and opens the connection.

Why it looks like this:

* Rows are read straight from sqlite3's cursor (`_rows`), through the table's column codecs
  (`bot.store.codec.TABLES`): money as Decimal, times as aware datetimes, days as dates, flags
  as bools, JSON decoded, statuses as their enums. sqlite-utils' `Database.query` would wrap
  each read in SAVEPOINT ... RELEASE and parse its first keyword: three statements for one
  read, on every turn of every conversation.
* Every write that belongs with another runs inside `transaction()` (BEGIN IMMEDIATE; nested
  blocks become savepoints via sqlite-utils' `db.atomic()`). A bare `with conn:` is NOT enough
  with sqlite-utils 4, whose `execute` and table methods commit on their own. A method that
  writes one part of what its caller does as a whole says so with `_in_transaction()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Self

import sqlite_utils

from bot.errors import StoreError
from bot.store.codec import TABLES, Codecs, decoder, to_json, to_timestamp

Clock = Callable[[], datetime]
Row = dict[str, Any]
Params = Sequence[Any] | Mapping[str, Any]


def found(row: Row | None, what: str) -> Row:
    """`row`, which the caller knows is there (it holds an id the store gave it); a
    StoreError naming `what` if it is not."""
    if row is None:
        raise StoreError(f"no {what}")
    return row


def placeholders(values: Sequence[Any]) -> str:
    """`?, ?, ?`: one parameter mark per value, for `IN (...)`."""
    return ", ".join("?" * len(values))


class StoreBase:
    """The connection (`db`, sqlite-utils over sqlite3), the clock, and the helpers every area's
    queries use. Opened by `bot.store.core.Store`."""

    path: str
    clock: Clock
    db: sqlite_utils.Database

    # -------------------------------------------------------------- reading

    def _rows(self, sql: str, params: Params = (), codecs: Codecs | None = None) -> Iterator[Row]:
        """The rows of a SELECT as dicts, each column read through `codecs` (a table's map from
        `TABLES`, or `codec.columns(...)` for a join)."""
        cursor = self.db.conn.execute(sql, params)
        keys = [column[0] for column in cursor.description]
        if len(set(keys)) != len(keys):
            raise StoreError(f"a query returns two columns of the same name: {keys}")
        return map(decoder(keys, codecs or {}), cursor)

    def _all(self, sql: str, params: Params = (), codecs: Codecs | None = None) -> list[Row]:
        """Every row of a SELECT (see `_rows`)."""
        return list(self._rows(sql, params, codecs))

    def _one(self, sql: str, params: Params = (), codecs: Codecs | None = None) -> Row | None:
        return next(self._rows(sql, params, codecs), None)

    def _value(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row (a count, a max), None without rows."""
        row = self.db.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]

    # -------------------------------------------------------------- transactions

    @contextmanager
    def transaction(self) -> Iterator[Self]:
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
    def rolled_back(self) -> Iterator[Self]:
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

    def _in_transaction(self, what: str) -> None:
        """Refuse to run `what` outside a transaction: it is one part of a change its caller
        makes as a whole (outside one, sqlite-utils would commit it on its own)."""
        if not self.db.conn.in_transaction:
            raise StoreError(f"{what} must run inside the caller's transaction (Store.transaction())")

    # -------------------------------------------------------------- the audit trail

    def audit(
        self,
        event: str,
        *,
        at: datetime,
        chat_id: int | None = None,
        borrower_id: int | None = None,
        loan_id: str | None = None,
        **details: Any,
    ) -> None:
        self.db.execute(
            "INSERT INTO audit (at, event, chat_id, borrower_id, loan_id, details) VALUES (?, ?, ?, ?, ?, ?)",
            (to_timestamp(at), event, chat_id, borrower_id, loan_id, to_json(details)),
        )

    def last_audit_id(self) -> int:
        return int(self._value("SELECT coalesce(max(id), 0) FROM audit"))

    def audit_since(self, audit_id: int) -> list[Row]:
        """Audit events recorded after `audit_id`, oldest first, details as a dict."""
        return self._all("SELECT * FROM audit WHERE id > ? ORDER BY id", (audit_id,), TABLES["audit"])
