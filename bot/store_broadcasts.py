"""SQL for lender broadcasts and reports."""
from __future__ import annotations


class BroadcastQueries:
    """Mixed into `bot.store.Store` (uses its `db`, `clock` and `transaction`)."""
