"""SQL for reading borrowers and their loans, and for what the bot learns about a borrower:
their Telegram account, language, time zone, and that they cannot be reached. (Writing loans
and borrowers from the lender's files: `bot.store.imports`.)"""

from __future__ import annotations

from datetime import datetime

from bot.errors import StoreError
from bot.store.base import Row, StoreBase
from bot.store.codec import TABLES, to_timestamp


class BorrowerQueries(StoreBase):
    # -------------------------------------------------------------- loans

    def get_loan(self, loan_id: str) -> Row | None:
        """The loan with amounts as Decimal and next_due_date as a date, or None."""
        return self._one("SELECT * FROM loans WHERE loan_id = ?", (loan_id,), TABLES["loans"])

    def loans_for_borrower(self, borrower_id: int) -> list[Row]:
        return self._all("SELECT * FROM loans WHERE borrower_id = ? ORDER BY loan_id", (borrower_id,), TABLES["loans"])

    def loan_currency(self, loan_id: str) -> str | None:
        currency: str | None = self._value("SELECT currency FROM loans WHERE loan_id = ?", (loan_id,))
        return currency

    # -------------------------------------------------------------- borrowers

    def get_borrower(self, borrower_id: int) -> Row | None:
        return self._one("SELECT * FROM borrowers WHERE id = ?", (borrower_id,), TABLES["borrowers"])

    def borrower_by_telegram(self, user_id: int) -> Row | None:
        return self._one("SELECT * FROM borrowers WHERE telegram_user_id = ?", (user_id,), TABLES["borrowers"])

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

    def mark_unreachable(self, borrower_id: int, at: datetime, reason: str) -> None:
        """The borrower blocked the bot: noted the first time (and audited every time)."""
        with self.transaction():
            self.db.execute(
                "UPDATE borrowers SET unreachable_at = COALESCE(unreachable_at, ?) WHERE id = ?",
                (to_timestamp(at), borrower_id),
            )
            self.audit("borrower_unreachable", at=at, borrower_id=borrower_id, reason=reason)

    def unreachable_borrowers(self) -> list[Row]:
        """Borrowers marked unreachable (they blocked the bot): id, phone, unreachable_at."""
        return self._all(
            "SELECT id, phone, unreachable_at FROM borrowers WHERE unreachable_at IS NOT NULL ORDER BY id",
            codecs=TABLES["borrowers"],
        )
