"""SQL for telling who is writing: invitations (single-use deep-link tokens for one loan) and
the identification attempts that lock a loan number, or a Telegram account, after too many
failures."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from bot.errors import InviteError, InviteReason, StoreError
from bot.store.base import Row, StoreBase
from bot.store.codec import TABLES, to_timestamp


class IdentificationQueries(StoreBase):
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

    def _invite(self, token: str) -> Row | None:
        return self._one("SELECT * FROM invites WHERE token = ?", (token,), TABLES["invites"])

    @staticmethod
    def _invite_problem(invite: Row | None, at: datetime) -> InviteReason | None:
        if invite is None:
            return "unknown"
        if invite["used_at"] is not None:
            return "used"
        if invite["expires_at"] <= at:
            return "expired"
        return None

    def peek_invite(self, token: str, now: datetime) -> str:
        """The loan a usable token is for; InviteError(unknown|used|expired) otherwise."""
        invite = self._invite(token)
        problem = self._invite_problem(invite, now)
        if problem or invite is None:
            raise InviteError(problem or "unknown")
        return str(invite["loan_id"])

    def redeem_invite(self, token: str, now: datetime, chat_id: int) -> str:
        """Use a token once. One conditional UPDATE decides, so two chats racing cannot both win."""
        at = to_timestamp(now)
        cursor = self.db.execute(
            "UPDATE invites SET used_at = ?, used_by_chat = ? WHERE token = ? AND used_at IS NULL AND expires_at > ?",
            (at, chat_id, token, at),
        )
        invite = self._invite(token)
        if cursor.rowcount != 1 or invite is None:
            raise InviteError(self._invite_problem(invite, now) or "used")
        return str(invite["loan_id"])

    # -------------------------------------------------------------- identification attempts

    def record_identification_attempt(
        self, chat_id: int, ok: bool, at: datetime, loan_id: str | None = None, user_id: int | None = None
    ) -> None:
        self.db.execute(
            "INSERT INTO identification_attempts (chat_id, at, ok, loan_id, user_id) VALUES (?, ?, ?, ?, ?)",
            (chat_id, to_timestamp(at), int(ok), loan_id, user_id),
        )

    def failed_identifications_for_loan(self, loan_id: str, since: datetime) -> int:
        return int(
            self._value(
                "SELECT count(*) FROM identification_attempts WHERE loan_id = ? AND ok = 0 AND at >= ?",
                (loan_id, to_timestamp(since)),
            )
        )

    def failed_identifications_by_account(self, user_id: int, since: datetime) -> int:
        """Failures of one Telegram account since `since`, from whichever chat."""
        return int(
            self._value(
                "SELECT count(*) FROM identification_attempts WHERE user_id = ? AND ok = 0 AND at >= ?",
                (user_id, to_timestamp(since)),
            )
        )
