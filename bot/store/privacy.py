"""SQL for privacy: erasing a borrower's personal data, private files, consistent online backups.

Forgetting a borrower erases what identifies them or what they told us, and cuts every link
from what is kept to their Telegram account: each chat or user id of theirs, wherever a table
holds one, becomes one alias (`erased_id`) that no Telegram account can have, so the kept rows
of one borrower still belong together but lead to nobody. Kept: the financial record a lender
must retain (loans, plan terms and schedule, the consent's SHA-256 and time, instalments,
payments, reminders) and the skeleton of the conversation and audit trail (times, steps,
events), with the texts erased.

Erased text must leave the file, not only the table: every connection runs with
`secure_delete` (freed content is zeroed, see `Store`), and after erasing, the write-ahead log
is checkpointed and truncated, so neither the database file nor its -wal still holds it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from bot.store.base import StoreBase

ERASED = "[erased]"
#: Telegram user and chat ids have at most 52 significant bits, so no real account has an id
#: at or below this; a forgotten borrower's ids become `ERASED_ID_BASE - borrower_id`.
ERASED_ID_BASE = -(2**53)
CHECKPOINT_TRIES = 10  # a reader in another process (the running bot) can delay a truncating checkpoint


def erased_id(borrower_id: int) -> int:
    """What the forgotten borrower's Telegram ids become in every row that is kept."""
    return ERASED_ID_BASE - borrower_id


def create_private(path: str | Path) -> None:
    """Create `path` empty and readable by its owner only (0600), unless it exists. SQLite gives
    a database's -wal, -shm and -journal files the permissions of the database file."""
    with contextlib.suppress(OSError):  # it exists, or cannot be created: opening it reports that
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


class Erasure(NamedTuple):
    counts: dict[str, int]  # rows changed, by kind ("borrower" is 1 or 0)
    file_clean: bool  # the write-ahead log was checkpointed and truncated: no erased text is left on disk

    @property
    def nothing(self) -> bool:
        return not any(self.counts.values())


_IDS = "(SELECT value FROM json_each(:ids))"  # the borrower's Telegram ids, not yet erased
#: What `forget` changes, by kind (the counts it reports). Each statement changes only what is not
#: erased yet, so forgetting twice counts nothing the second time.
_FORGET = {
    "borrower": """UPDATE borrowers SET name = :erased, phone = :phone, id_last4 = '----', locale = NULL,
                   telegram_user_id = NULL, telegram_chat_id = NULL, timezone = NULL
                   WHERE id = :b AND phone IS NOT :phone""",
    "messages": f"""UPDATE messages SET text = :erased, buttons = NULL, meta = NULL, chat_id = :alias
                    WHERE chat_id IN {_IDS} OR (borrower_id = :b AND (text != :erased OR chat_id != :alias
                                                                      OR buttons IS NOT NULL OR meta IS NOT NULL))""",
    "conversations": f"DELETE FROM conversations WHERE borrower_id = :b OR chat_id IN {_IDS}",
    "support_notes": f"UPDATE support_notes SET text = :erased, chat_id = :alias WHERE chat_id IN {_IDS}",
    "tickets": f"UPDATE tickets SET chat_id = :alias WHERE chat_id IN {_IDS}",
    # what agents wrote to the borrower from the console or the group (a close has no text)
    "support_replies": f"""UPDATE support_outbox SET chat_id = :alias,
                               text = CASE WHEN text IS NULL THEN NULL ELSE :erased END
                           WHERE chat_id IN {_IDS}""",
    "consent_records": """UPDATE plans SET consent_text = :erased, consent_user_id = NULL
                          WHERE borrower_id = :b AND (consent_text != :erased OR consent_user_id IS NOT NULL)""",
    # the account of someone else refused in the chat (`user_id`), and an agent's reason for revealing
    "audit_entries": f"""UPDATE audit SET chat_id = CASE WHEN chat_id IN {_IDS} THEN :alias ELSE chat_id END,
                             details = json_remove(CASE WHEN event = 'pii_revealed'
                                                   THEN json_set(details, '$.reason', :erased) ELSE details END,
                                                   '$.user_id')
                         WHERE chat_id IN {_IDS}
                            OR ((borrower_id = :b OR chat_id = :alias)
                                AND (json_type(details, '$.user_id') IS NOT NULL
                                     OR (event = 'pii_revealed'
                                         AND json_extract(details, '$.reason') IS NOT :erased)))""",
    "identification_attempts": f"""UPDATE identification_attempts
                                   SET chat_id = CASE WHEN chat_id IN {_IDS} THEN :alias ELSE chat_id END,
                                       user_id = CASE WHEN user_id IN {_IDS} THEN :alias ELSE user_id END
                                   WHERE chat_id IN {_IDS} OR user_id IN {_IDS}""",
    "invitations": f"""UPDATE invites SET used_by_chat = NULL WHERE used_by_chat IS NOT NULL
                       AND (loan_id IN (SELECT loan_id FROM loans WHERE borrower_id = :b) OR used_by_chat IN {_IDS})""",
    "broadcast_recipients": """UPDATE broadcast_recipients SET chat_id = :alias
                               WHERE borrower_id = :b AND chat_id != :alias""",
    "dead_letters": f"""DELETE FROM dead_letters
                        WHERE EXISTS (SELECT 1 FROM json_each(telegram_ids) WHERE value IN {_IDS})""",
    "waiting_updates": f"DELETE FROM inbox WHERE EXISTS (SELECT 1 FROM json_each(telegram_ids) WHERE value IN {_IDS})",
}


class PrivacyQueries(StoreBase):
    def forget_borrower(self, borrower_id: int, at: datetime) -> Erasure:
        """Erase the borrower's personal data and message texts and unlink their Telegram ids
        (see the module's docstring). Forgetting again changes nothing and counts nothing."""
        with self.transaction():
            params = {
                "b": borrower_id,
                "alias": erased_id(borrower_id),
                "erased": ERASED,
                "phone": f"erased:{borrower_id}",
                "ids": json.dumps(self._telegram_ids_of(borrower_id)),
            }
            counts = {kind: self.db.execute(sql, params).rowcount for kind, sql in _FORGET.items()}
            if any(counts.values()):
                self.audit("borrower_forgotten", at=at, borrower_id=borrower_id, erased=counts)
        return Erasure(counts, self.truncate_wal())

    def _telegram_ids_of(self, borrower_id: int) -> list[int]:
        """Every Telegram user or chat id the store links to the borrower (not yet erased)."""
        rows = self.db.execute(
            """SELECT telegram_user_id FROM borrowers WHERE id = :b
               UNION SELECT telegram_chat_id FROM borrowers WHERE id = :b
               UNION SELECT chat_id FROM conversations WHERE borrower_id = :b
               UNION SELECT telegram_user_id FROM conversations WHERE borrower_id = :b
               UNION SELECT chat_id FROM messages WHERE borrower_id = :b
               UNION SELECT chat_id FROM tickets WHERE borrower_id = :b
               UNION SELECT chat_id FROM audit WHERE borrower_id = :b
               UNION SELECT consent_user_id FROM plans WHERE borrower_id = :b
               UNION SELECT chat_id FROM broadcast_recipients WHERE borrower_id = :b
               UNION SELECT used_by_chat FROM invites WHERE loan_id IN (SELECT loan_id FROM loans
                                                                          WHERE borrower_id = :b)""",
            {"b": borrower_id},
        )
        return sorted(row[0] for row in rows if row[0] is not None and row[0] > ERASED_ID_BASE)

    def truncate_wal(self) -> bool:
        """Copy the write-ahead log into the database and empty it, so pages as they were
        before an erasure are gone from the -wal file too. False if a reader in another
        process kept it from completing (it will, at a later checkpoint)."""
        if self.path == ":memory:":
            return True
        for attempt in range(CHECKPOINT_TRIES):
            busy, _, _ = self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return True
            time.sleep(0.1 * (attempt + 1))
        return False

    def backup_to(self, path: str | Path) -> None:
        """A consistent copy made with SQLite's online backup, safe while the bot writes; the
        copy is readable by its owner only, like the database."""
        create_private(path)
        target = sqlite3.connect(str(path))
        try:
            with target:
                self.db.conn.backup(target)
        finally:
            target.close()
