"""Sample borrowers and loans for `restructure-bot chat --demo`, so a newcomer can walk the
whole path in a minute. The people are fictional; the loans are typical of each product."""

from __future__ import annotations

from bot.store import Store

DEMO_LOANS = [
    {
        "loan_id": "CC-1001",
        "borrower_name": "王小明",
        "phone": "+8613800138000",
        "id_last4": "1234",
        "locale": "zh_CN",
        "product": "credit_card",
        "currency": "CNY",
        "outstanding_principal": "42000",
        "overdue_principal": "6000",
        "overdue_interest": "1450.30",
        "penalty_fees": "820",
        "annual_rate": "0.18",
        "monthly_payment": "3200",
        "remaining_term_months": 18,
        "days_past_due": 75,
        "next_due_date": "2026-12-05",
        "on_time_payments_last_12": 8,
    },
    {
        "loan_id": "CL-2002",
        "borrower_name": "Emma Li",
        "phone": "+8613900139000",
        "id_last4": "567X",
        "locale": "en",
        "product": "consumer_loan",
        "currency": "CNY",
        "outstanding_principal": "18000",
        "overdue_principal": "2400",
        "overdue_interest": "380",
        "penalty_fees": "260",
        "annual_rate": "0.15",
        "monthly_payment": "1450",
        "remaining_term_months": 14,
        "days_past_due": 48,
        "next_due_date": "2026-12-20",
        "on_time_payments_last_12": 10,
    },
    {
        "loan_id": "AL-3003",
        "borrower_name": "张伟",
        "phone": "+8613700137000",
        "id_last4": "0042",
        "product": "auto_loan",
        "currency": "CNY",
        "outstanding_principal": "65000",
        "overdue_principal": "5200",
        "overdue_interest": "610",
        "penalty_fees": "300",
        "annual_rate": "0.068",
        "monthly_payment": "2600",
        "remaining_term_months": 26,
        "days_past_due": 62,
        "next_due_date": "2026-12-31",
    },
]


def load_demo(store: Store) -> None:
    """Insert (or refresh) the demo loans; idempotent."""
    with store.transaction():
        for row in DEMO_LOANS:
            store.upsert_borrower_and_loan(dict(row))
