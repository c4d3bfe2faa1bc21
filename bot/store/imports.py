"""SQL for the lender's imports: loans and borrowers (one row, or a whole file in batches) and
confirmed payments.

A file import is staged: every row that passed its own checks goes into a TEMP table of this
connection (`loan_import`, `payment_import`; TEMP tables live in SQLite's temporary file and
its small page cache, so memory stays flat, and writing them takes no lock on the database
the bot uses). Clashes between rows (a loan or reference listed twice, one phone with two ID
endings) are then found with SQL over the whole file, and the good rows are written in
batches, each batch its own short transaction: the bot is never kept waiting for seconds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from decimal import Decimal

from bot.store.base import Row, StoreBase
from bot.store.codec import LOAN_AMOUNTS, to_day, to_money_text, to_timestamp

#: The borrower columns of a loan row, then the loan's own (as stored, after validation).
BORROWER_FIELDS = ("borrower_name", "phone", "id_last4", "locale", "timezone")
LOAN_FIELDS = (
    "loan_id",
    "product",
    "currency",
    *LOAN_AMOUNTS,
    "remaining_term_months",
    "days_past_due",
    "next_due_date",
    "prior_restructures",
    "on_time_payments_last_12",
)
STAGED_LOAN_FIELDS = (*BORROWER_FIELDS, *LOAN_FIELDS)

#: A borrower is matched by E.164 phone. The locale is only set when there is none (a
#: language the borrower chose is not overwritten by a re-import); a time zone in the file
#: replaces the stored one (the lender knows where the borrower lives), a row without keeps it.
_UPSERT_BORROWER = """INSERT INTO borrowers (name, phone, id_last4, locale, timezone, created_at) {rows}
    ON CONFLICT (phone) DO UPDATE SET name = excluded.name, id_last4 = excluded.id_last4,
        locale = COALESCE(borrowers.locale, excluded.locale),
        timezone = COALESCE(excluded.timezone, borrowers.timezone)"""

_LOAN_COLUMNS = ("loan_id", "borrower_id", *LOAN_FIELDS[1:], "imported_at", "updated_at")
_UPSERT_LOAN = (
    f"INSERT INTO loans ({', '.join(_LOAN_COLUMNS)}) {{rows}} ON CONFLICT (loan_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _LOAN_COLUMNS if c not in ("loan_id", "imported_at"))
)


def _money(value: object) -> str:
    return format(value, "f") if type(value) is Decimal else to_money_text(value)  # the first: validated rows


def staged_loan(row: dict) -> tuple:
    """A validated loan row as stored: amounts as decimal TEXT, dates as ISO days."""
    return (
        row["borrower_name"],
        row["phone"],
        row["id_last4"],
        row.get("locale"),
        row.get("timezone"),
        row["loan_id"],
        str(row["product"]),
        row.get("currency") or "CNY",
        *[_money(row.get(column, 0)) for column in LOAN_AMOUNTS],
        int(row["remaining_term_months"]),
        int(row["days_past_due"]),
        to_day(row["next_due_date"]),
        int(row.get("prior_restructures") or 0),
        row.get("on_time_payments_last_12"),
    )


class ImportQueries(StoreBase):
    # ------------------------------------------------------------------ one loan

    def upsert_borrower_and_loan(self, row: dict) -> bool:
        """Insert or update one loan and its borrower (matched by E.164 phone).

        `row` holds the loan fields of `plans.models.Loan` plus borrower_name, phone (already
        E.164) and id_last4, and optionally locale and timezone (see `_UPSERT_BORROWER`).
        Returns True when the loan is new, False when it was updated.
        """
        values = staged_loan(row)
        now = to_timestamp(self.clock())
        with self.transaction():
            self.db.execute(_UPSERT_BORROWER.format(rows="VALUES (?, ?, ?, ?, ?, ?)"), (*values[:5], now))
            borrower_id = self._value("SELECT id FROM borrowers WHERE phone = ?", (row["phone"],))
            new = self._one("SELECT 1 FROM loans WHERE loan_id = ?", (row["loan_id"],)) is None
            loan = values[len(BORROWER_FIELDS) :]
            self.db.execute(
                _UPSERT_LOAN.format(rows=f"VALUES ({', '.join('?' * len(_LOAN_COLUMNS))})"),
                (loan[0], borrower_id, *loan[1:], now, now),
            )
        return new

    # ------------------------------------------------------------------ staging (TEMP tables)

    @contextmanager
    def _temp_writes(self) -> Iterator[None]:
        """One transaction for writes to TEMP tables only: BEGIN (deferred) takes no lock on
        the main database, so the bot keeps writing while a file is checked."""
        if self.db.conn.in_transaction:
            yield
            return
        self.db.conn.execute("BEGIN")
        try:
            yield
        except BaseException:
            self.db.conn.execute("ROLLBACK")
            raise
        self.db.conn.execute("COMMIT")

    def _restage(self, table: str, columns: str) -> None:
        with self._temp_writes():
            self.db.conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
            self.db.conn.execute(
                f"CREATE TEMP TABLE {table} (n INTEGER PRIMARY KEY, {columns}, bad INTEGER NOT NULL DEFAULT 0)"
            )

    def drop_staging(self) -> None:
        with self._temp_writes():
            self.db.conn.execute("DROP TABLE IF EXISTS temp.loan_import")
            self.db.conn.execute("DROP TABLE IF EXISTS temp.payment_import")

    # ------------------------------------------------------------------ a loan file

    def start_loan_staging(self) -> None:
        self._restage("loan_import", ", ".join(STAGED_LOAN_FIELDS))

    def stage_loans(self, rows: Iterable[tuple]) -> None:
        """(row number, *staged_loan(row)) tuples of rows that passed their own checks."""
        marks = ", ".join("?" * (len(STAGED_LOAN_FIELDS) + 1))
        with self._temp_writes():
            self.db.conn.executemany(f"INSERT INTO temp.loan_import VALUES ({marks}, 0)", rows)

    def staged_loan_clashes(self, limit: int) -> tuple[list[tuple[int, str, str]], int]:
        """Mark the staged rows that clash with an earlier one: a loan listed twice (bad = 1),
        or a phone given with another ID ending than its first row has (bad = 2). Returns the
        first `limit` as (row, column, reason), in row order, and how many there are."""
        conn = self.db.conn
        with self._temp_writes():
            # Built once the file is staged (sorting is cheaper than growing an index row by
            # row); the phone index covers what the phone check and the totals read.
            conn.execute("CREATE INDEX IF NOT EXISTS temp.loan_import_loan ON loan_import (loan_id, n)")
            conn.execute("CREATE INDEX IF NOT EXISTS temp.loan_import_phone ON loan_import (phone, id_last4, bad)")
            # One scan of each index finds the few loans and phones that can clash; only
            # their rows are then compared with their first row.
            conn.execute("""UPDATE loan_import SET bad = 1
                            WHERE loan_id IN (SELECT loan_id FROM loan_import GROUP BY loan_id HAVING count(*) > 1)
                            AND n > (SELECT min(f.n) FROM loan_import f WHERE f.loan_id = loan_import.loan_id)""")
            conn.execute("""UPDATE loan_import SET bad = 2 WHERE bad = 0
                            AND phone IN (SELECT phone FROM loan_import GROUP BY phone
                                          HAVING min(id_last4) != max(id_last4))
                            AND id_last4 != (SELECT f.id_last4 FROM loan_import f WHERE f.phone = loan_import.phone
                                             AND f.bad != 1 ORDER BY f.n LIMIT 1)""")
        count = conn.execute("SELECT count(*) FROM loan_import WHERE bad != 0").fetchone()[0]
        rows = conn.execute(
            """SELECT n, bad, CASE bad WHEN 1 THEN (SELECT min(f.n) FROM loan_import f WHERE f.loan_id = s.loan_id)
                                     ELSE (SELECT min(f.n) FROM loan_import f WHERE f.phone = s.phone AND f.bad != 1)
                                     END
               FROM loan_import s WHERE bad != 0 ORDER BY n LIMIT ?""",
            (limit,),
        ).fetchall()
        return [
            (n, "loan_id", f"duplicate of row {first}")
            if bad == 1
            else (n, "id_last4", f"differs from row {first}, which has the same phone")
            for n, bad, first in rows
        ], count

    def staged_loan_totals(self) -> tuple[int, int, int]:
        """(last row number, good rows, distinct phones of the good rows): after
        `staged_loan_clashes`, whose phone index holds all it counts."""
        return self.db.conn.execute(
            "SELECT coalesce(max(n), 0), count(*) FILTER (WHERE bad = 0),"
            " count(DISTINCT phone) FILTER (WHERE bad = 0) FROM loan_import"
        ).fetchone()

    @contextmanager
    def bulk_writes(self, pages: int = 10_000) -> Iterator[None]:
        """Let the write-ahead log grow to `pages` pages (40 MB) between checkpoints while a
        file's batches are written, then go back to SQLite's 1,000. A batch of new loans
        dirties pages all over the phone index; checkpointing after every few batches copied
        and synced them again and again (1M loans: commits 5.9 s -> 3.9 s). The log is a
        file: memory does not grow with it."""
        conn = self.db.conn
        before = conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        conn.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")
        try:
            yield
        finally:
            conn.execute(f"PRAGMA wal_autocheckpoint = {before}")

    def write_staged_loans(self, first: int, last: int) -> tuple[int, int]:
        """Write the good staged rows numbered first..last in one transaction; (new, updated)."""
        params = {"first": first, "last": last, "now": to_timestamp(self.clock())}
        batch = "s.n BETWEEN :first AND :last AND s.bad = 0"
        loan_values = ", ".join("b.id" if c == "borrower_id" else f"s.{c}" for c in _LOAN_COLUMNS[:-2])
        conn = self.db.conn
        with self.transaction():
            rows, updated = conn.execute(
                f"SELECT count(*), count(l.loan_id) FROM loan_import s LEFT JOIN loans l ON l.loan_id = s.loan_id"
                f" WHERE {batch}",
                params,
            ).fetchone()
            conn.execute(
                _UPSERT_BORROWER.format(
                    rows=f"SELECT borrower_name, phone, id_last4, locale, timezone, :now FROM loan_import s"
                    f" WHERE {batch} ORDER BY s.n"
                ),
                params,
            )
            conn.execute(
                _UPSERT_LOAN.format(
                    rows=f"SELECT {loan_values}, :now, :now FROM loan_import s JOIN borrowers b ON b.phone = s.phone"
                    f" WHERE {batch} ORDER BY s.n"
                ),
                params,
            )
        return rows - updated, updated

    # ------------------------------------------------------------------ a payments file

    def start_payment_staging(self) -> None:
        self._restage("payment_import", "loan_id, amount, paid_at, reference, payment_id, plan_id")

    def stage_payments(self, rows: Iterable[tuple]) -> None:
        """(row number, loan_id, amount text, paid_at timestamp, reference) tuples."""
        with self._temp_writes():
            self.db.conn.executemany(
                "INSERT INTO temp.payment_import (n, loan_id, amount, paid_at, reference) VALUES (?, ?, ?, ?, ?)", rows
            )

    def staged_payment_clashes(self, limit: int) -> tuple[list[tuple[int, str, str]], int]:
        """Mark a reference listed twice (bad = 1); the first `limit` as (row, column, reason)
        and how many there are."""
        conn = self.db.conn
        with self._temp_writes():
            conn.execute("CREATE INDEX IF NOT EXISTS temp.payment_import_ref ON payment_import (reference, n)")
            conn.execute("CREATE INDEX IF NOT EXISTS temp.payment_import_order ON payment_import (paid_at, n)")
            conn.execute("""UPDATE payment_import SET bad = 1 WHERE EXISTS (SELECT 1 FROM payment_import f
                                WHERE f.reference = payment_import.reference AND f.n < payment_import.n)""")
        count = conn.execute("SELECT count(*) FROM payment_import WHERE bad != 0").fetchone()[0]
        rows = conn.execute(
            """SELECT n, (SELECT min(f.n) FROM payment_import f WHERE f.reference = s.reference)
                               FROM payment_import s WHERE bad != 0 ORDER BY n LIMIT ?""",
            (limit,),
        ).fetchall()
        return [(n, "reference", f"duplicate of row {first}") for n, first in rows], count

    def staged_payments(self, after: tuple[str, int] | None, limit: int) -> list[Row]:
        """The next `limit` good staged payments in the order they were paid (then row)."""
        paid_at, n = after or ("", 0)
        return self._all(
            "SELECT n, loan_id, amount, paid_at, reference FROM payment_import WHERE bad = 0"
            " AND (paid_at, n) > (?, ?) ORDER BY paid_at, n LIMIT ?",
            (paid_at, n, limit),
        )

    def note_staged_payment(self, n: int, payment_id: int | None, plan_id: int | None) -> None:
        self.db.conn.execute(
            "UPDATE temp.payment_import SET payment_id = ?, plan_id = ? WHERE n = ?", (payment_id, plan_id, n)
        )

    def staged_payers(self) -> list[Row]:
        """Per borrower paid in this file: their last payment (id) and its plan."""
        return self._all(
            """SELECT p.borrower_id, s.plan_id, max(s.payment_id) AS payment_id
               FROM payment_import s JOIN plans p ON p.id = s.plan_id
               WHERE s.payment_id IS NOT NULL GROUP BY p.borrower_id ORDER BY p.borrower_id"""
        )
