"""SQL for support staff: accounts, sessions, notes, hand-off tickets and transcripts."""
from __future__ import annotations


class SupportQueries:
    """Mixed into `bot.store.Store` (uses its `db`, `clock` and `transaction`)."""
