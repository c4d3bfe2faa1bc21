"""Everything the bot remembers, in one SQLite file (sqlite-utils), and the only place SQL lives.

    core        `Store`: the connection, the clock, transactions, and reading borrowers and
                loans; invitations, conversations, messages, audit and agreed plans
    imports     writing loans and borrowers (one, or a file in batches) and staging payments
    migrations  the schema as an ordered list of migrations (`PRAGMA user_version`)
    codec       Python values <-> SQLite TEXT (Decimal money, UTC times, JSON)
    plans       a plan's life after agreement: instalments, payments, the reminder outbox
    broadcasts  lender broadcasts
    reports     the lender report's figures
    support     support staff: accounts, sessions, notes, what the console reads
    tickets     hand-offs to a person, their support-group messages, the queue of those
                waiting, and the support outbox (agents' replies and closes)
    privacy     erasing a borrower's personal data, private files, online backups
    inbox       updates not yet handled: the webhook's inbox, dead letters

`Store` is assembled from one query class per area (a mixin each), so a newcomer looks for
"the SQL for X" in the module named X.
"""
from __future__ import annotations

from bot.store.core import Store

__all__ = ["Store"]
