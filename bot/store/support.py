"""SQL for support staff: accounts, sessions, login attempts, notes, and what the support
console and the transcripts read of conversations and messages (a plan and its reminders:
`bot.store.plans`, `bot.store.reminders`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.errors import StoreError
from bot.store.base import Row, StoreBase, placeholders
from bot.store.codec import TABLES, columns, from_timestamp, to_timestamp

_SUPPORT_USER_COLUMNS = "id, name, password_hash, created_at, disabled"


class SupportQueries(StoreBase):
    # -------------------------------------------------------------- support accounts

    def add_support_user(self, name: str, password_hash: str) -> int:
        with self.transaction():
            if self._one("SELECT 1 FROM support_users WHERE name = ?", (name,)) is not None:
                raise StoreError(f"support user {name!r} already exists")
            user_id = self.db.execute(
                "INSERT INTO support_users (name, password_hash, created_at) VALUES (?, ?, ?)",
                (name, password_hash, to_timestamp(self.clock())),
            ).lastrowid
            assert user_id is not None  # a row was inserted
            return user_id

    def support_user(self, name: str) -> Row | None:
        return self._one(
            f"SELECT {_SUPPORT_USER_COLUMNS} FROM support_users WHERE name = ?", (name,), TABLES["support_users"]
        )

    def list_support_users(self) -> list[Row]:
        """Every account by name, with how many sessions it has open."""
        return self._all(
            "SELECT id, name, created_at, disabled,"
            " (SELECT count(*) FROM support_sessions s WHERE s.user_id = u.id AND s.expires_at > ?) AS sessions"
            " FROM support_users u ORDER BY name",
            (to_timestamp(self.clock()),),
            TABLES["support_users"],
        )

    def any_support_user_enabled(self) -> bool:
        """Whether some console account can sign in (a person may answer a hand-off)."""
        return bool(self._value("SELECT EXISTS (SELECT 1 FROM support_users WHERE disabled = 0)"))

    def disable_support_user(self, name: str) -> None:
        """Disable an account and end its sessions at once."""
        with self.transaction():
            user = self.support_user(name)
            if user is None:
                raise StoreError(f"no support user {name!r}")
            self.db.execute("UPDATE support_users SET disabled = 1 WHERE id = ?", (user["id"],))
            self.db.execute("DELETE FROM support_sessions WHERE user_id = ?", (user["id"],))

    # -------------------------------------------------------------- login attempts

    def record_support_login(
        self, name: str, client: str | None, ok: bool, at: datetime, *, refused: bool = False
    ) -> None:
        """One attempt: `ok`, failed, or `refused` unchecked while backing off (no failure)."""
        self.db.execute(
            "INSERT INTO support_login_attempts (name, client, at, ok, refused) VALUES (?, ?, ?, ?, ?)",
            (name, client, to_timestamp(at), int(ok), int(refused)),
        )

    def support_login_failures(
        self, *, since: datetime, name: str | None = None, client: str | None = None
    ) -> tuple[int, datetime | None]:
        """(how many, the last) wrong passwords after `since` for `name` and/or from `client`.
        For a name, only those after its last successful login count."""
        where, params = ["ok = 0", "refused = 0", "at >= ?"], [to_timestamp(since)]
        if name is not None:
            where.append(
                "name = ? AND at > COALESCE((SELECT max(at) FROM support_login_attempts WHERE name = ? AND ok = 1), '')"
            )
            params += [name, name]
        if client is not None:
            where.append("client = ?")
            params.append(client)
        count, last = self.db.execute(
            f"SELECT count(*), max(at) FROM support_login_attempts WHERE {' AND '.join(where)}", params
        ).fetchone()
        return count, from_timestamp(last)

    def support_login_succeeded(self, name: str, client: str, since: datetime) -> bool:
        """Has `name` signed in from `client` after `since`?"""
        return (
            self._one(
                "SELECT 1 FROM support_login_attempts WHERE name = ? AND client = ? AND ok = 1 AND at >= ?",
                (name, client, to_timestamp(since)),
            )
            is not None
        )

    def remember_support_browser(self, token_hash: str, user_id: int, at: datetime) -> None:
        self.db.execute(
            "INSERT INTO support_known_browsers (token_hash, user_id, created_at) VALUES (?, ?, ?)",
            (token_hash, user_id, to_timestamp(at)),
        )

    def support_browser_known(self, name: str, token_hash: str, since: datetime) -> bool:
        """Did `name` sign in from the browser holding this token after `since`?"""
        return (
            self._one(
                "SELECT 1 FROM support_known_browsers k JOIN support_users u ON u.id = k.user_id"
                " WHERE k.token_hash = ? AND u.name = ? AND k.created_at >= ?",
                (token_hash, name, to_timestamp(since)),
            )
            is not None
        )

    # -------------------------------------------------------------- sessions

    def create_support_session(self, token_hash: str, user_id: int, now: datetime, expires_at: datetime) -> None:
        with self.transaction():
            # a login is a good moment to forget sessions that can no longer be used
            self.db.execute("DELETE FROM support_sessions WHERE expires_at <= ?", (to_timestamp(now),))
            self.db.execute(
                "INSERT INTO support_sessions (token_hash, user_id, created_at, expires_at, last_seen_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (token_hash, user_id, to_timestamp(now), to_timestamp(expires_at), to_timestamp(now)),
            )

    def support_session(self, token_hash: str) -> Row | None:
        """The session with its user's name and `disabled` flag, or None."""
        return self._one(
            "SELECT s.token_hash, s.user_id, s.created_at, s.expires_at, s.last_seen_at,"
            " u.name, u.disabled FROM support_sessions s JOIN support_users u ON u.id = s.user_id"
            " WHERE s.token_hash = ?",
            (token_hash,),
            columns("support_sessions", "support_users"),
        )

    def touch_support_session(self, token_hash: str, at: datetime) -> None:
        self.db.execute(
            "UPDATE support_sessions SET last_seen_at = ? WHERE token_hash = ?", (to_timestamp(at), token_hash)
        )

    def delete_support_session(self, token_hash: str) -> None:
        self.db.execute("DELETE FROM support_sessions WHERE token_hash = ?", (token_hash,))

    # -------------------------------------------------------------- notes

    def add_support_note(self, chat_id: int, author_id: int, text: str, at: datetime) -> int:
        if not text.strip():
            raise StoreError("a note needs some text")
        note_id = self.db.execute(
            "INSERT INTO support_notes (chat_id, author_id, at, text) VALUES (?, ?, ?, ?)",
            (chat_id, author_id, to_timestamp(at), text),
        ).lastrowid
        assert note_id is not None  # a row was inserted
        return note_id

    def support_notes(self, chat_id: int) -> list[Row]:
        return self._all(
            "SELECT n.id, n.chat_id, n.at, n.text, u.name AS author FROM support_notes n"
            " JOIN support_users u ON u.id = n.author_id WHERE n.chat_id = ? ORDER BY n.at, n.id",
            (chat_id,),
            TABLES["support_notes"],
        )

    # -------------------------------------------------------------- conversations

    def search_conversations(
        self,
        *,
        loan_id: str | None = None,
        name: str | None = None,
        phone_last4: str | None = None,
        step: str | None = None,
        active_from: datetime | None = None,
        active_to: datetime | None = None,
        needs_person: bool | None = None,
        limit: int = 200,
    ) -> list[Row]:
        """Conversations with their borrower's name and phone, most recently active first.

        `name` matches whole names only, ignoring case and spacing (a part of a name finds
        nothing: a search must not reveal a masked name letter by letter); `phone_last4` the end
        of the phone number; `active_from`/`active_to` (half-open) select conversations
        with a message, or their last update, in that interval.
        """
        where: list[str] = []
        params: list[Any] = []
        if loan_id:
            where.append("c.loan_id = ? COLLATE NOCASE")
            params.append(loan_id.strip())
        if name and name_key(name):
            self.db.register_function(name_key, name="support_name_key", deterministic=True, replace=True)
            where.append("support_name_key(b.name) = ?")
            params.append(name_key(name))
        if phone_last4:
            where.append("substr(b.phone, -4) = ?")
            params.append(phone_last4.strip())
        if step:
            where.append("c.step = ?")
            params.append(step)
        if needs_person is not None:
            where.append("c.needs_person = ?")
            params.append(int(needs_person))
        if active_from is not None or active_to is not None:
            low = to_timestamp(active_from) if active_from else ""
            high = to_timestamp(active_to) if active_to else "9999"
            where.append(
                "((c.updated_at >= ? AND c.updated_at < ?) OR EXISTS (SELECT 1 FROM messages m"
                " WHERE m.chat_id = c.chat_id AND m.at >= ? AND m.at < ?))"
            )
            params += [low, high, low, high]
        sql = (
            "SELECT c.chat_id, c.borrower_id, c.loan_id, c.step, c.locale, c.updated_at, c.needs_person,"
            " b.name, b.phone FROM conversations c LEFT JOIN borrowers b ON b.id = c.borrower_id"
            + (" WHERE " + " AND ".join(where) if where else "")
            + " ORDER BY c.updated_at DESC, c.chat_id LIMIT ?"
        )
        return self._all(sql, (*params, limit), columns("conversations", "borrowers"))

    def conversation_steps(self) -> list[str]:
        """The steps conversations are at now (for a search form's choices)."""
        return [row[0] for row in self.db.execute("SELECT DISTINCT step FROM conversations ORDER BY step")]

    def support_conversation(self, chat_id: int) -> Row | None:
        """One conversation with `data` decoded, its borrower (name, phone, id_last4) and loan."""
        return self._one(
            "SELECT c.chat_id, c.telegram_user_id, c.borrower_id, c.loan_id, c.step, c.data, c.locale,"
            " c.updated_at, c.needs_person, b.name, b.phone, b.id_last4, l.currency, l.product"
            " FROM conversations c LEFT JOIN borrowers b ON b.id = c.borrower_id"
            " LEFT JOIN loans l ON l.loan_id = c.loan_id WHERE c.chat_id = ?",
            (chat_id,),
            columns("conversations", "borrowers", "loans"),
        )

    # -------------------------------------------------------------- transcripts

    def chats_of_borrower(self, borrower_id: int) -> list[int]:
        """Every chat that spoke as this borrower: its conversation, its logged messages, and
        the Telegram chat it is linked to."""
        return [
            row[0]
            for row in self.db.execute(
                "SELECT chat_id FROM conversations WHERE borrower_id = :id"
                " UNION SELECT chat_id FROM messages WHERE borrower_id = :id"
                " UNION SELECT telegram_chat_id FROM borrowers WHERE id = :id AND telegram_chat_id IS NOT NULL"
                " ORDER BY 1",
                {"id": borrower_id},
            )
        ]

    def chats_of_loan(self, loan_id: str) -> list[int]:
        """Every chat whose conversation is, or was (per the audit log), about this loan."""
        return [
            row[0]
            for row in self.db.execute(
                "SELECT chat_id FROM conversations WHERE loan_id = :loan"
                " UNION SELECT chat_id FROM audit WHERE loan_id = :loan AND chat_id IS NOT NULL"
                " ORDER BY 1",
                {"loan": loan_id},
            )
        ]

    def borrower_names_of_chats(self, chat_ids: list[int]) -> list[str]:
        """The names of the borrowers these chats spoke as (for masking their transcript)."""
        if not chat_ids:
            return []
        return [
            row[0]
            for row in self.db.execute(
                f"SELECT DISTINCT b.name FROM borrowers b WHERE b.id IN ("
                f" SELECT borrower_id FROM conversations WHERE chat_id IN ({placeholders(chat_ids)})"
                f" UNION SELECT borrower_id FROM messages WHERE chat_id IN ({placeholders(chat_ids)}))"
                f" OR b.telegram_chat_id IN ({placeholders(chat_ids)}) ORDER BY b.name",
                (*chat_ids, *chat_ids, *chat_ids),
            )
        ]

    def chat_messages(self, chat_ids: list[int], since: datetime | None = None) -> list[Row]:
        """The logged messages of these chats in order, `buttons` and `meta` decoded (meta {}
        when there is none)."""
        if not chat_ids:
            return []
        params: list[Any] = list(chat_ids)
        sql = f"SELECT * FROM messages WHERE chat_id IN ({placeholders(chat_ids)})"
        if since is not None:
            sql += " AND at >= ?"
            params.append(to_timestamp(since))
        return [
            {**row, "meta": row["meta"] or {}}
            for row in self._rows(sql + " ORDER BY at, id", params, TABLES["messages"])
        ]


def name_key(name: str | None) -> str:
    """What two ways of writing one name have in common: case and spacing aside."""
    return " ".join((name or "").split()).casefold()
