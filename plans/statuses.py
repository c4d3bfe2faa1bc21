"""The states of an agreed plan's instalment, defined once for the engine and the store.

An instalment is `due` until its date passes unpaid (then `missed`, decided by the bot's daily
check), `partly_paid` while a payment covers part of it, and `paid` once fully covered; a
`missed` one stays missed until fully paid (`plans.payments.allocate`).
"""

from __future__ import annotations

from enum import StrEnum


class InstalmentStatus(StrEnum):
    DUE = "due"
    PARTLY_PAID = "partly_paid"
    PAID = "paid"
    MISSED = "missed"


#: Something is still owed on it: a payment goes here, and a new plan takes it over.
UNPAID = (InstalmentStatus.DUE, InstalmentStatus.PARTLY_PAID, InstalmentStatus.MISSED)
#: Unpaid but not (yet) missed: late once its date has passed, until the daily check marks it missed.
UNPAID_NOT_MISSED = (InstalmentStatus.DUE, InstalmentStatus.PARTLY_PAID)
