"""A plan's life after "I agree": reminders scheduled, payments applied, misses noticed.

- `schedule_reminders`: one outbox row per instalment and policy day (3 days before, on the
  day, 1 day after...), at the borrower's local time of day, moved out of quiet hours.
- `apply_payment`: a confirmed payment fills the oldest unpaid instalment first
  (`plans.payments.allocate`); an overpayment is kept as unapplied; the plan completes when
  nothing is owed. `thank_for_payments` then thanks each borrower once through the outbox.
- `notice_misses`: an instalment unpaid `grace_days` after its due date is missed and the
  borrower gets a check-in; `misses_before_broken` misses break the plan and flag the case
  for a person.
- `remaining_loan`: what a plan still leaves owed, as a `Loan` the engine can re-plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot.store import Store, found
from bot.store.statuses import PlanStatus
from plans.models import Loan
from plans.payments import Instalment, ScheduledPart, allocate, loan_left_by_plan
from plans.policy import Policy, Reminders
from plans.statuses import UNPAID, InstalmentStatus


def local_send_time(day: date, zone: ZoneInfo, rules: Reminders) -> datetime:
    """`day` at the policy's time of day in the borrower's zone (the policy refuses a send
    time inside quiet hours)."""
    return datetime.combine(day, rules.send_time, zone)


def next_allowed(now: datetime, zone: ZoneInfo, rules: Reminders) -> datetime:
    """`now`, or the end of quiet hours if it is quiet now in the borrower's zone."""
    local = now.astimezone(zone)
    if not rules.is_quiet(local.time()):
        return now
    day = local.date() if local.time() < rules.quiet_end else local.date() + timedelta(days=1)
    return datetime.combine(day, rules.quiet_end, zone)


def borrower_zone(store: Store, borrower_id: int, default: ZoneInfo) -> ZoneInfo:
    borrower = store.get_borrower(borrower_id)
    return ZoneInfo(borrower["timezone"]) if borrower and borrower.get("timezone") else default


def schedule_reminders(store: Store, policy: Policy, plan_id: int, zone: ZoneInfo, now: datetime) -> int:
    """Create the plan's reminders (idempotent); returns how many were added."""
    plan = store.plan(plan_id)
    rules = policy.reminders
    due = []
    for row in store.plan_installments(plan_id):
        days = [(f"before:{d}", row["due_date"] - timedelta(days=d)) for d in rules.days_before]
        days += [(f"after:{d}", row["due_date"] + timedelta(days=d)) for d in rules.days_after]
        due += [
            (row["number"], kind, send_at) for kind, day in days if (send_at := local_send_time(day, zone, rules)) > now
        ]
    return store.add_reminders(plan_id=plan_id, borrower_id=plan["borrower_id"], due=due)


@dataclass(frozen=True)
class PaymentResult:
    duplicate: bool
    plan_id: int | None = None
    applied: Decimal = Decimal(0)
    unapplied: Decimal = Decimal(0)
    completed: bool = False
    payment_id: int | None = None


def apply_payment(
    store: Store, *, loan_id: str, amount: Decimal, paid_at: datetime, reference: str, source: str = "import"
) -> PaymentResult:
    """Record and apply one payment, idempotent on `reference`, all in one transaction."""
    with store.transaction():
        plan = store.active_plan_for_loan(loan_id)
        items = (
            [Instalment(r["number"], r["amount"], r["paid"], r["status"]) for r in store.plan_installments(plan["id"])]
            if plan
            else []
        )
        allocation = allocate(amount, items) if items else None
        unapplied = allocation.unapplied if allocation else amount
        payment_id = store.record_payment(
            loan_id=loan_id,
            plan_id=plan["id"] if plan else None,
            amount=amount,
            unapplied=unapplied,
            paid_at=paid_at,
            reference=reference,
            source=source,
        )
        if payment_id is None:
            return PaymentResult(duplicate=True)
        if plan is None or allocation is None:
            store.audit("payment_without_plan", at=store.clock(), loan_id=loan_id, reference=reference)
            return PaymentResult(False, None, Decimal(0), unapplied, payment_id=payment_id)
        for item in allocation.updated:
            store.set_instalment_payment(
                plan["id"], item.number, paid=item.paid, status=InstalmentStatus(item.status), at=paid_at
            )
        store.audit(
            "payment_applied",
            at=store.clock(),
            borrower_id=plan["borrower_id"],
            loan_id=loan_id,
            plan_id=plan["id"],
            amount=amount,
            unapplied=unapplied,
            reference=reference,
        )
        completed = all(r["status"] == InstalmentStatus.PAID for r in store.plan_installments(plan["id"]))
        if completed:
            store.end_plan(plan["id"], PlanStatus.COMPLETED, store.clock())
        return PaymentResult(False, plan["id"], amount - unapplied, unapplied, completed, payment_id)


def thank_for_payments(store: Store, payers: list[dict]) -> int:
    """One thank-you per borrower for the payments just applied (`payers`: borrower_id, and
    the plan_id and payment_id of their last payment), however many there were. It is queued
    now and rendered when sent, so it tells the plan's state after all of them. Returns how
    many were queued."""
    queued = 0
    for payer in payers:
        instalments = store.plan_installments(payer["plan_id"])
        unpaid = [r["number"] for r in instalments if r["status"] in UNPAID]
        queued += store.add_reminder(
            plan_id=payer["plan_id"],
            number=(unpaid or [instalments[-1]["number"]])[0],
            borrower_id=payer["borrower_id"],
            kind=f"thanks:{payer['payment_id']}",
            send_at=store.clock(),
        )
    return queued


def notice_misses(store: Store, policy: Policy, now: datetime, default_zone: ZoneInfo) -> list[tuple[int, int]]:
    """Mark instalments missed after the grace days; check in with the borrower, or break the
    plan after too many misses. Returns the (plan_id, number) pairs newly missed."""
    rules = policy.reminders
    newly = []
    with store.transaction():
        candidates = store.instalments_unpaid_before(now.date() + timedelta(days=1) - timedelta(days=rules.grace_days))
        for row in candidates:
            zone = ZoneInfo(row["timezone"]) if row["timezone"] else default_zone
            if now.astimezone(zone).date() <= row["due_date"] + timedelta(days=rules.grace_days):
                continue
            if not store.mark_instalment_missed(row["plan_id"], row["number"], now):
                continue
            newly.append((row["plan_id"], row["number"]))
            if store.missed_count(row["plan_id"]) >= rules.misses_before_broken:
                break_plan(store, row["plan_id"], now, "too_many_misses")
            else:
                store.add_reminder(
                    plan_id=row["plan_id"],
                    number=row["number"],
                    borrower_id=row["borrower_id"],
                    kind="checkin",
                    send_at=next_allowed(now, zone, rules),
                )
    return newly


def break_plan(store: Store, plan_id: int, now: datetime, reason: str) -> None:
    """The plan is broken: the case goes to a person and the borrower is told so."""
    plan = store.plan(plan_id)
    if not store.end_plan(plan_id, PlanStatus.BROKEN, now):
        return
    borrower = found(store.get_borrower(plan["borrower_id"]), f"borrower {plan['borrower_id']}")
    if borrower["telegram_chat_id"]:
        store.flag_needs_person(borrower["telegram_chat_id"], now, reason)
    number = max(r["number"] for r in store.plan_installments(plan_id))
    store.add_reminder(plan_id=plan_id, number=number, borrower_id=plan["borrower_id"], kind="broken", send_at=now)


def remaining_loan(loan: Loan, plan: dict, instalments: list[dict], today: date, prior_restructures: int) -> Loan:
    """What the plan still leaves owed, for a new plan (`plans.payments.loan_left_by_plan`:
    unpaid fees stay interest-free carried fees, never overdue interest)."""
    rows = [
        ScheduledPart(row["due_date"], row["principal"], row["interest"], row["fees"], row["paid"], row["status"])
        for row in instalments
    ]
    return loan_left_by_plan(loan, rows, today, prior_restructures)
