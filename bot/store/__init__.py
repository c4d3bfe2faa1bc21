"""Everything the bot remembers, in one SQLite file (sqlite-utils), and the only place SQL lives.

    core            `Store`: opens the file with its settings, migrates it, and is assembled
                    from one query class per area below
    base            what every area stands on: the connection, the clock, reading rows through
                    the column codecs, transactions, the audit trail
    migrations      the schema as an ordered list of migrations (`PRAGMA user_version`)
    codec           Python values <-> SQLite (Decimal money, UTC times, days, flags, JSON) and
                    `TABLES`, the one map of which column holds what
    statuses        every status column's values, one `StrEnum` each
    borrowers       reading borrowers and loans; a borrower's account, language, time zone
    identification  invitations and identification attempts
    conversations   the dialogue's saved state, the messages in and out
    imports         writing loans and borrowers (one, or a file in batches) and staging payments
    plans           agreed plans, their instalments and payments, a plan's end
    reminders       the reminder outbox
    broadcasts      lender broadcasts: segments, recipients, sending
    reports         the lender report's figures
    support         support staff: accounts, sessions, notes, what the console reads
    tickets         hand-offs to a person, their support-group messages, the queue of those
                    waiting, and the support outbox (agents' replies and closes)
    privacy         erasing a borrower's personal data, private files, online backups
    inbox           updates not yet handled: the webhook's inbox, dead letters

A newcomer looks for "the SQL for X" in the module named X.
"""

from __future__ import annotations

from bot.store.base import Row, found
from bot.store.core import Store

__all__ = ["Row", "Store", "found"]
