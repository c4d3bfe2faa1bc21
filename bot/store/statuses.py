"""Every status column's values, defined once: the store writes and reads them, the code that
moves a row from one state to the next names them, and the schema refuses any other value
(CHECK constraints, `bot.store.migrations`).

    PlanStatus         plans.status: active until it ends completed, broken or superseded
    InstalmentStatus   installments.status (from the engine, `plans.statuses`: it allocates payments)
    ReminderStatus     reminders.status: the reminder outbox
    BroadcastStatus    broadcasts.status: a broadcast as a whole
    RecipientStatus    broadcast_recipients.status: one borrower's message of a broadcast
    OutboxStatus       support_outbox.status: an agent's reply or close on its way

A hand-off ticket has no status column: it is open while `closed_at` is NULL.

Each is a `StrEnum`, so a member is the string the database holds (`PlanStatus.ACTIVE ==
"active"`), and `sql_list` writes a tuple of them into SQL.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from plans.statuses import UNPAID, UNPAID_NOT_MISSED, InstalmentStatus

__all__ = [
    "UNPAID",
    "UNPAID_NOT_MISSED",
    "BroadcastStatus",
    "InstalmentStatus",
    "OutboxKind",
    "OutboxStatus",
    "PLAN_END_STATES",
    "PlanStatus",
    "RecipientStatus",
    "ReminderStatus",
    "sql_list",
]


class PlanStatus(StrEnum):
    ACTIVE = "active"
    COMPLETED = "completed"  # every instalment paid
    BROKEN = "broken"  # missed more than the policy allows, and no new plan may be agreed
    SUPERSEDED = "superseded"  # replaced by a new plan (`plans.superseded_by`)


#: Where an active plan can end (`Store.end_plan`).
PLAN_END_STATES = (PlanStatus.COMPLETED, PlanStatus.BROKEN, PlanStatus.SUPERSEDED)


class ReminderStatus(StrEnum):
    PENDING = "pending"  # waiting for its moment (or for a retry)
    SENDING = "sending"  # claimed by a dispatcher, before the Bot API call
    SENT = "sent"
    FAILED = "failed"  # given up on
    BLOCKED = "blocked"  # the borrower blocked the bot
    CANCELLED = "cancelled"  # its plan ended, or it no longer applies (paid already)
    SKIPPED = "skipped"  # its moment passed by more than its kind allows


class BroadcastStatus(StrEnum):
    PENDING = "pending"  # recorded, not started
    SENDING = "sending"
    INTERRUPTED = "interrupted"  # stopped (Ctrl-C, a crash): `broadcast resume` finishes it
    FINISHED = "finished"


class RecipientStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # written before the Bot API call: after a crash, the message is in doubt
    SENT = "sent"
    FAILED = "failed"
    BLOCKED = "blocked"


class OutboxStatus(StrEnum):
    PENDING = "pending"  # waiting, or waiting to be tried again
    SENDING = "sending"  # being done by the bot process
    DONE = "done"
    FAILED = "failed"  # given up, saying why


class OutboxKind(StrEnum):
    REPLY = "reply"
    CLOSE = "close"


def sql_list(values: Iterable[StrEnum]) -> str:
    """`('due', 'partly_paid')`: enum values as an SQL list, for `IN` in a statement written
    once (the values are the enum's own, never user input)."""
    return "(" + ", ".join(f"'{value.value}'" for value in values) + ")"
