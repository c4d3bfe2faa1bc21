"""`Store`: the SQLite file opened with its settings and migrated, assembled from one query class
per area (`bot.store` lists them). What every area shares - reading rows through the column
codecs, transactions, the audit trail - is `bot.store.base.StoreBase`.

Why it looks like this:

* Money is TEXT. sqlite-utils (and sqlite3) would store a `Decimal` as REAL, i.e. a float, so
  every amount is written as a plain decimal string (`format(d, "f")`) and read back as
  `Decimal` through `bot.store.codec`; floats are refused outright. The columns must be
  declared TEXT: a made-up type such as MONEY or DECIMAL gets NUMERIC affinity, and SQLite
  would turn '0.10' back into the float 0.1.
* Times are TEXT in UTC with microseconds (`2024-05-01T04:00:00.000000+00:00`), so comparing
  the strings compares the instants. Callers pass timezone-aware datetimes; naive ones are
  refused because nobody could tell which zone they meant.
* The schema is a list of migrations; `PRAGMA user_version` records how many have run, so
  opening a database twice migrates once, and a database from a newer release is refused.
* The file holds personal data: it is created readable by its owner only (0600; SQLite gives
  its -wal and -shm the same), and every connection runs with `secure_delete`, so what is
  deleted or overwritten is zeroed rather than left in free pages (see `bot.store.privacy`).
* Conversations are saved with optimistic concurrency (a `version` column), so two processes
  answering the same chat cannot silently overwrite each other.
"""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from bot.errors import StoreError
from bot.store import migrations
from bot.store.base import Clock
from bot.store.broadcasts import BroadcastQueries
from bot.store.codec import utc_now
from bot.store.conversations import ConversationQueries
from bot.store.identification import IdentificationQueries
from bot.store.imports import ImportQueries
from bot.store.inbox import InboxQueries
from bot.store.plans import PlanQueries
from bot.store.privacy import PrivacyQueries, create_private
from bot.store.reports import ReportQueries
from bot.store.support import SupportQueries
from bot.store.tickets import TicketQueries


class Store(
    IdentificationQueries,
    ConversationQueries,
    ImportQueries,
    PlanQueries,
    BroadcastQueries,
    ReportQueries,
    SupportQueries,
    TicketQueries,
    PrivacyQueries,
    InboxQueries,
):
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

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        return int(self._value("PRAGMA user_version"))

    def migrate(self) -> int:
        """Run the migrations this database has not seen, each in its own transaction.
        An up-to-date database is only read: opening it never waits for the bot's writes.

        Foreign keys are off while migrating (SQLite's own procedure for changing a table: a
        table others refer to can then be rebuilt), and each migration must leave none broken
        (`PRAGMA foreign_key_check`) before it commits."""
        schema = migrations.MIGRATIONS
        if self.schema_version == len(schema):
            return len(schema)
        self.db.execute("PRAGMA foreign_keys = OFF")  # (a no-op inside a transaction: none is open here)
        try:
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
                    broken = self.db.execute("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise StoreError(f"{self.path}: migration {current + 1} would break foreign keys: {broken[:5]}")
                    self.db.execute(f"PRAGMA user_version = {current + 1}")
        finally:
            self.db.execute("PRAGMA foreign_keys = ON")
