"""SQL for privacy: erasing a borrower's personal data, and consistent online backups."""
from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

ERASED = "[erased]"


class PrivacyQueries:
    """Mixed into `bot.store.Store` (uses its `db`, `transaction` and `audit`)."""

    def forget_borrower(self, borrower_id: int, at: datetime) -> dict[str, int]:
        """Erase what identifies the borrower or what they told us; keep the financial record.
        Returns how many rows of each kind were erased."""
        counts: dict[str, int] = {}
        with self.transaction():
            chats = [row[0] for row in self.db.execute(
                "SELECT chat_id FROM conversations WHERE borrower_id = ? UNION SELECT telegram_chat_id FROM borrowers"
                " WHERE id = ? AND telegram_chat_id IS NOT NULL", (borrower_id, borrower_id))]
            marks = ",".join("?" * len(chats))
            counts["borrower"] = self.db.execute(
                "UPDATE borrowers SET name = ?, phone = ?, id_last4 = '----', telegram_user_id = NULL,"
                " telegram_chat_id = NULL, timezone = NULL WHERE id = ?",
                (ERASED, f"erased:{borrower_id}", borrower_id)).rowcount
            counts["messages"] = self.db.execute(
                f"UPDATE messages SET text = ?, buttons = NULL, meta = NULL WHERE borrower_id = ?"
                f" OR chat_id IN ({marks})", (ERASED, borrower_id, *chats)).rowcount
            counts["conversations"] = self.db.execute(
                f"DELETE FROM conversations WHERE borrower_id = ? OR chat_id IN ({marks})",
                (borrower_id, *chats)).rowcount
            counts["support_notes"] = self.db.execute(
                f"UPDATE support_notes SET text = ? WHERE chat_id IN ({marks})", (ERASED, *chats)).rowcount
            counts["consent_texts"] = self.db.execute(
                "UPDATE plans SET consent_text = ? WHERE borrower_id = ?", (ERASED, borrower_id)).rowcount
            counts["invites"] = self.db.execute(
                "UPDATE invites SET used_by_chat = NULL WHERE loan_id IN (SELECT loan_id FROM loans"
                " WHERE borrower_id = ?)", (borrower_id,)).rowcount
            self.audit("borrower_forgotten", at=at, borrower_id=borrower_id, erased=counts)
        return counts

    def backup_to(self, path: str | Path) -> None:
        """A consistent copy made with SQLite's online backup, safe while the bot writes."""
        target = sqlite3.connect(str(path))
        try:
            with target:
                self.db.conn.backup(target)
        finally:
            target.close()

