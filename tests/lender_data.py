"""A small, fully known book of borrowers for broadcast, report and admin tests.

Today is 2026-11-28 in Asia/Shanghai (NOW is 09:30 UTC = 17:30 there).

  id  chat  locale (borrower / chat)  plan                                     segments
  1   901   zh_CN / -                 level, active: #1 due 12-01 (in 3 days)   due-in:3, active, all
  2   902   en / -                    step_up, active: #1 due 11-20 unpaid      overdue, active, all
  3   903   - / en                    level, active: #1 missed, #2 due 12-15    overdue, active, all
  4   904   en / -                    settlement, completed                      all
  5   905   zh_CN / -  (blocked us)   level, active                              left out: unreachable
  6   906   - / en  (chat 906 opened the invite, not identified)                 invited-not-started
  7   -     zh_CN (invited, never opened the chat)                               counted as no chat
  8   908   en / -                    level, superseded by 9; 9 broken           all

Plans, instalments and statuses are written directly (the plan-life code has its own tests).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from bot.store import Store
from fixtures import NOW, clock

BORROWERS = [
    # id, loan, phone, borrower locale
    (1, "CC-1001", "+8613800138000", "zh_CN"),
    (2, "CL-2002", "+8613900139000", "en"),
    (3, "AL-3003", "+8613700137000", None),
    (4, "CL-4004", "+8613600136000", "en"),
    (5, "CC-5005", "+8613500135000", "zh_CN"),
    (6, "CC-6006", "+8613400134000", None),
    (7, "CC-7007", "+8613300133000", "zh_CN"),
    (8, "CL-8008", "+8613200132000", "en"),
]


def loan(loan_id: str, phone: str, locale: str | None) -> dict:
    return {
        "loan_id": loan_id,
        "borrower_name": f"Borrower {loan_id}",
        "phone": phone,
        "id_last4": "1234",
        "locale": locale,
        "product": "consumer_loan",
        "currency": "CNY",
        "outstanding_principal": "12000",
        "overdue_principal": "1000",
        "overdue_interest": "100",
        "penalty_fees": "50",
        "annual_rate": "0.12",
        "monthly_payment": "1000",
        "remaining_term_months": 12,
        "days_past_due": 40,
        "next_due_date": "2026-12-10",
    }


def instalment(number: int, due: date, amount: str, kind: str = "instalment") -> dict:
    """An instalment as `Store.save_plan` takes it: all principal, no interest or fees."""
    return {
        "number": number,
        "due_date": due,
        "amount": Decimal(amount),
        "principal": Decimal(amount),
        "interest": Decimal(0),
        "fees": Decimal(0),
        "kind": kind,
    }


def add_plan(
    store: Store,
    borrower_id: int,
    loan_id: str,
    structure: str,
    instalments: list[tuple],
    *,
    status: str = "active",
    ended_at: datetime | None = None,
) -> int:
    """`instalments`: (due date, amount, status, paid) each; amounts as strings."""
    plan_id = store.save_plan(
        loan_id=loan_id,
        borrower_id=borrower_id,
        option={
            "option_id": f"{structure}-{len(instalments)}",
            "structure": structure,
            "currency": "CNY",
            "total_repayable": sum((Decimal(i[1]) for i in instalments), Decimal(0)),
            "apr": Decimal("0.1"),
        },
        installments=[instalment(n, due, amount) for n, (due, amount, _, _) in enumerate(instalments, 1)],
        consent_text="I agree",
        consent_user_id=None,
        consent_update_id=None,
        accepted_at=NOW,
    )
    for n, (_, _, state, paid) in enumerate(instalments, 1):
        store.db.execute(
            "UPDATE installments SET status = ?, paid = ? WHERE plan_id = ? AND number = ?", (state, paid, plan_id, n)
        )
    store.db.execute(
        "UPDATE plans SET status = ?, ended_at = ? WHERE id = ?",
        (status, ended_at.isoformat() if ended_at else None, plan_id),
    )
    return plan_id


def conversation(
    store: Store,
    chat_id: int,
    *,
    locale: str | None,
    borrower_id: int | None,
    loan_id: str | None = None,
    invite_loan: str | None = None,
) -> None:
    store.save_conversation(
        chat_id,
        step="done" if borrower_id else "identify_contact",
        data={"invite_loan": invite_loan} if invite_loan else {},
        version=0,
        locale=locale,
        borrower_id=borrower_id,
        loan_id=loan_id,
        telegram_user_id=chat_id,
    )


def build_book(store: Store) -> Store:
    with store.transaction():
        for _, loan_id, phone, locale in BORROWERS:
            store.upsert_borrower_and_loan(loan(loan_id, phone, locale))
        for borrower_id in (1, 2, 3, 4, 5, 8):
            store.bind_telegram(borrower_id, 900 + borrower_id, 900 + borrower_id)
        conversation(store, 903, locale="en", borrower_id=3, loan_id="AL-3003")
        conversation(store, 906, locale="en", borrower_id=None, invite_loan="CC-6006")
        for loan_id in ("CC-6006", "CC-7007"):
            store.create_invite(loan_id, NOW, 14)
        store.db.execute("UPDATE borrowers SET unreachable_at = ? WHERE id = 5", (NOW.isoformat(),))

        add_plan(
            store,
            1,
            "CC-1001",
            "level",
            [(date(2026, 12, 1), "1000.00", "due", "0"), (date(2027, 1, 1), "1000.00", "due", "0")],
        )
        add_plan(
            store,
            2,
            "CL-2002",
            "step_up",
            [(date(2026, 11, 20), "500.00", "partly_paid", "200.00"), (date(2026, 12, 20), "700.00", "due", "0")],
        )
        add_plan(
            store,
            3,
            "AL-3003",
            "level",
            [
                (date(2026, 10, 15), "800.00", "missed", "0"),
                (date(2026, 11, 15), "800.00", "paid", "800.00"),
                (date(2026, 12, 15), "800.00", "due", "0"),
            ],
        )
        add_plan(
            store,
            4,
            "CL-4004",
            "settlement",
            [(date(2026, 11, 1), "3000.00", "paid", "3000.00")],
            status="completed",
            ended_at=NOW,
        )
        add_plan(store, 5, "CC-5005", "level", [(date(2026, 12, 5), "600.00", "due", "0")])
        superseded = add_plan(
            store,
            8,
            "CL-8008",
            "level",
            [
                (date(2026, 10, 1), "900.00", "paid", "900.00"),
                (date(2026, 11, 1), "900.00", "missed", "0"),
                (date(2026, 12, 1), "900.00", "due", "0"),
            ],
            status="superseded",
            ended_at=datetime(2026, 11, 5, tzinfo=UTC),
        )
        replacement = add_plan(
            store,
            8,
            "CL-8008",
            "interest_freeze",
            [(date(2026, 11, 10), "400.00", "missed", "0"), (date(2026, 12, 10), "400.00", "due", "0")],
            status="broken",
            ended_at=datetime(2026, 11, 25, tzinfo=UTC),
        )
        store.db.execute("UPDATE plans SET superseded_by = ? WHERE id = ?", (replacement, superseded))
    return store


def book(path=":memory:", clock=clock) -> Store:
    return build_book(Store(path, clock=clock))
