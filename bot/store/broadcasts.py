"""SQL for lender broadcasts (the report's figures are in `bot.store.reports`).

Broadcasts: a segment is chosen here (`segment_candidates`), a broadcast and its recipients
are recorded in one transaction (`create_broadcast`), and the sender moves each recipient
pending -> sending -> sent | failed | blocked in small batches (`claim_recipients`,
`save_results`): `sending` is written before the Bot API call and the outcome after it, so a
crash leaves only the calls in flight in doubt (see `bot.lender.broadcasts`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import date

from bot.errors import StoreError
from bot.store.base import Row
from bot.store.borrowers import BorrowerQueries
from bot.store.codec import TABLES, columns, to_timestamp
from bot.store.statuses import (
    UNPAID,
    UNPAID_NOT_MISSED,
    BroadcastStatus,
    InstalmentStatus,
    PlanStatus,
    RecipientStatus,
    sql_list,
)

#: Borrowers of each plan segment (the `all` segment is every borrower with a chat).
_SEGMENT_BORROWERS = {
    "active": f"SELECT borrower_id FROM plans WHERE status = '{PlanStatus.ACTIVE}'",
    "due-in": f"""SELECT p.borrower_id FROM plans p JOIN installments i ON i.plan_id = p.id
                  WHERE p.status = '{PlanStatus.ACTIVE}' AND i.status IN {sql_list(UNPAID_NOT_MISSED)}
                    AND i.due_date = :day""",
    "overdue": f"""SELECT p.borrower_id FROM plans p JOIN installments i ON i.plan_id = p.id
                   WHERE p.status = '{PlanStatus.ACTIVE}' AND (i.status = '{InstalmentStatus.MISSED}'
                         OR (i.status IN {sql_list(UNPAID_NOT_MISSED)} AND i.due_date < :today))""",
}

_BORROWER_COLUMNS = "b.id AS borrower_id, b.phone, b.locale AS borrower_locale, b.unreachable_at"


class BroadcastQueries(BorrowerQueries):
    """(A borrower who blocked the bot is marked unreachable: `BorrowerQueries`.)"""

    # ------------------------------------------------------------------ segments

    def segment_candidates(self, kind: str, *, today: date, day: date | None = None) -> list[Row]:
        """Everyone in segment `kind` (active | due-in | overdue | all | invited-not-started),
        one row per borrower ordered by id: borrower_id, chat_id (None: no chat with the bot
        to write to), phone, borrower_locale, conversation_locale, unreachable_at.

        `invited-not-started` is the chats that opened an invitation link but are not
        identified yet (the conversation holds the invite's loan, no borrower is bound), plus,
        with chat_id None, invited borrowers who never opened the chat at all.
        """
        if kind == "invited-not-started":
            return self._invited_not_started()
        if kind == "all":
            return self._everyone()
        if kind in _SEGMENT_BORROWERS:
            where = f"b.id IN ({_SEGMENT_BORROWERS[kind]})"
            params = {"today": today.isoformat(), "day": (day or today).isoformat()}
        else:
            raise StoreError(f"unknown segment kind {kind!r}")
        return self._all(
            f"SELECT {_BORROWER_COLUMNS}, c.locale AS conversation_locale, b.telegram_chat_id AS chat_id"
            f" FROM borrowers b"
            f" LEFT JOIN conversations c ON c.chat_id = b.telegram_chat_id"
            f" WHERE {where} ORDER BY b.id",
            params,
            TABLES["borrowers"],
        )

    def _everyone(self) -> list[Row]:
        """Every borrower, at their own chat (chat_id None: none yet, or not identified: they
        are counted, never messaged, since a chat that has not identified must not be told
        about a loan)."""
        return self._all(
            f"SELECT {_BORROWER_COLUMNS}, c.locale AS conversation_locale, b.telegram_chat_id AS chat_id"
            f" FROM borrowers b LEFT JOIN conversations c ON c.chat_id = b.telegram_chat_id ORDER BY b.id",
            codecs=TABLES["borrowers"],
        )

    def _invited_not_started(self) -> list[Row]:
        opened = self._all(
            f"""SELECT {_BORROWER_COLUMNS}, c.locale AS conversation_locale, c.chat_id
                FROM conversations c
                JOIN loans l ON l.loan_id = json_extract(c.data, '$.invite_loan')
                JOIN borrowers b ON b.id = l.borrower_id
                WHERE c.borrower_id IS NULL AND b.telegram_user_id IS NULL
                ORDER BY b.id, c.updated_at DESC, c.chat_id DESC""",
            codecs=TABLES["borrowers"],
        )
        never = self._all(
            f"""SELECT DISTINCT {_BORROWER_COLUMNS}, NULL AS conversation_locale, NULL AS chat_id
                FROM invites iv JOIN loans l ON l.loan_id = iv.loan_id
                JOIN borrowers b ON b.id = l.borrower_id
                WHERE b.telegram_chat_id IS NULL AND NOT EXISTS (
                    SELECT 1 FROM conversations c2
                    JOIN loans l2 ON l2.loan_id = json_extract(c2.data, '$.invite_loan')
                    WHERE l2.borrower_id = b.id)""",
            codecs=TABLES["borrowers"],
        )
        rows: dict[int, Row] = {}
        for row in opened + never:  # one chat per borrower: the most recently active one
            rows.setdefault(row["borrower_id"], row)
        return [rows[key] for key in sorted(rows)]

    def recipient_plan_facts(self, borrower_ids: Iterable[int]) -> list[Row]:
        """The unpaid (due, partly paid or missed) instalments of the active plans of these
        borrowers, oldest first: borrower_id, plan_id, currency, due_date (date), status,
        amount and paid (Decimal)."""
        return self._all(
            f"""SELECT p.borrower_id, p.id AS plan_id, p.currency, i.number, i.due_date, i.status,
                       i.amount, i.paid
                FROM plans p JOIN installments i ON i.plan_id = p.id
                WHERE p.status = '{PlanStatus.ACTIVE}' AND i.status IN {sql_list(UNPAID)}
                  AND p.borrower_id IN (SELECT value FROM json_each(:ids))
                ORDER BY p.borrower_id, i.due_date, p.id, i.number""",
            {"ids": json.dumps(sorted(set(borrower_ids)))},
            TABLES["installments"],
        )

    # ------------------------------------------------------------------ recording a broadcast

    def create_broadcast(
        self,
        *,
        segment: str,
        template: str | None,
        message_text: str | None,
        rate: int,
        paid: bool,
        created_by: str | None,
        recipients: list[dict],
    ) -> int:
        """Record a broadcast and one pending row per recipient (borrower_id, chat_id, locale)
        in one transaction; return its id."""
        with self.transaction():
            broadcast_id = self.db.execute(
                "INSERT INTO broadcasts (segment, template, message_text, rate, paid, created_at,"
                " created_by) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (segment, template, message_text, rate, int(paid), to_timestamp(self.clock()), created_by),
            ).lastrowid
            assert broadcast_id is not None  # a row was inserted
            self.db.conn.executemany(
                "INSERT INTO broadcast_recipients (broadcast_id, borrower_id, chat_id, locale) VALUES (?, ?, ?, ?)",
                [(broadcast_id, r["borrower_id"], r["chat_id"], r["locale"]) for r in recipients],
            )
        return broadcast_id

    def get_broadcast(self, broadcast_id: int) -> Row | None:
        return self._one("SELECT * FROM broadcasts WHERE id = ?", (broadcast_id,), TABLES["broadcasts"])

    def broadcast_created_by(self, created_by: str) -> Row | None:
        """The broadcast a given request already created (a double-tapped "Send")."""
        return self._one(
            "SELECT * FROM broadcasts WHERE created_by = ? ORDER BY id LIMIT 1", (created_by,), TABLES["broadcasts"]
        )

    def list_broadcasts(self, limit: int = 20) -> list[Row]:
        """The latest broadcasts, newest first, each with its recipients' counts by status."""
        rows = self._all("SELECT * FROM broadcasts ORDER BY id DESC LIMIT ?", (limit,), TABLES["broadcasts"])
        for row in rows:
            row["counts"] = self.broadcast_counts(row["id"])
        return rows

    def set_broadcast_status(self, broadcast_id: int, status: BroadcastStatus, *, finished: bool = False) -> None:
        self.db.execute(
            "UPDATE broadcasts SET status = ?, finished_at = ? WHERE id = ?",
            (BroadcastStatus(status), to_timestamp(self.clock()) if finished else None, broadcast_id),
        )

    def broadcast_recipients(self, broadcast_id: int, status: RecipientStatus | None = None) -> list[Row]:
        """Recipients (optionally only those in `status`) with their borrower's phone."""
        return self._all(
            "SELECT r.*, b.phone FROM broadcast_recipients r JOIN borrowers b ON b.id = r.borrower_id"
            " WHERE r.broadcast_id = :id AND (:status IS NULL OR r.status = :status)"
            " ORDER BY r.borrower_id",
            {"id": broadcast_id, "status": status},
            columns("broadcast_recipients"),
        )

    def broadcast_counts(self, broadcast_id: int) -> dict[RecipientStatus, int]:
        """Recipients by status, every status there (0 when none)."""
        counts = dict.fromkeys(RecipientStatus, 0)
        for row in self._rows(
            "SELECT status, count(*) AS n FROM broadcast_recipients WHERE broadcast_id = ? GROUP BY status",
            (broadcast_id,),
            TABLES["broadcast_recipients"],
        ):
            counts[row["status"]] = row["n"]
        return counts

    # ------------------------------------------------------------------ sending

    def claim_recipients(self, broadcast_id: int, borrower_ids: list[int]) -> list[int]:
        """Mark these pending recipients `sending` (before their message goes out); return the
        ones this call claimed. A recipient another process claimed first is not returned."""
        with self.transaction():
            rows = self.db.execute(
                "UPDATE broadcast_recipients SET status = ? WHERE broadcast_id = ? AND status = ?"
                " AND borrower_id IN (SELECT value FROM json_each(?)) RETURNING borrower_id",
                (RecipientStatus.SENDING, broadcast_id, RecipientStatus.PENDING, json.dumps(borrower_ids)),
            ).fetchall()
        return sorted(row[0] for row in rows)

    def release_recipients(self, broadcast_id: int, borrower_ids: Iterable[int]) -> None:
        """Back to pending: claimed recipients whose message was certainly never sent."""
        with self.transaction():
            self.db.conn.executemany(
                "UPDATE broadcast_recipients SET status = ? WHERE broadcast_id = ? AND borrower_id = ? AND status = ?",
                [
                    (RecipientStatus.PENDING, broadcast_id, borrower_id, RecipientStatus.SENDING)
                    for borrower_id in borrower_ids
                ],
            )

    def requeue_in_doubt(self, broadcast_id: int) -> int:
        """`sending` -> `pending` for every recipient left in doubt by a crash; how many."""
        return self.db.execute(
            "UPDATE broadcast_recipients SET status = ? WHERE broadcast_id = ? AND status = ?",
            (RecipientStatus.PENDING, broadcast_id, RecipientStatus.SENDING),
        ).rowcount

    def save_results(self, broadcast_id: int, results: Iterable[dict]) -> None:
        """Record outcomes: each result has borrower_id, status (sent | failed | blocked),
        error (or None), attempts (API calls made) and at (datetime). A blocked borrower is
        marked unreachable (the first time only) and audited."""
        results = list(results)
        with self.transaction():
            self.db.conn.executemany(
                "UPDATE broadcast_recipients SET status = ?, last_error = ?, attempts = attempts + ?,"
                " sent_at = ? WHERE broadcast_id = ? AND borrower_id = ?",
                [
                    (
                        RecipientStatus(r["status"]),
                        r["error"],
                        r["attempts"],
                        to_timestamp(r["at"]) if r["status"] == RecipientStatus.SENT else None,
                        broadcast_id,
                        r["borrower_id"],
                    )
                    for r in results
                ],
            )
            for result in results:
                if result["status"] == RecipientStatus.BLOCKED:
                    self.mark_unreachable(result["borrower_id"], result["at"], f"broadcast {broadcast_id}")
