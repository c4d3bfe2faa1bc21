"""SQL for a plan's life after agreement: instalment states, payments, the reminder outbox."""
from __future__ import annotations


class PlanLifeQueries:
    """Mixed into `bot.store.Store` (uses its `db`, `clock` and `transaction`)."""
