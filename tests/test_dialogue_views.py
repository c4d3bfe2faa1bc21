"""What the dialogue shows about an option must fit Telegram: a 480-month mortgage schedule is
shortened (start, a gap marker, end) and renders as valid HTML under 4,096 characters."""

from __future__ import annotations

import pytest

from bot.i18n import LOCALES, check_telegram_html, render
from bot.turn import TEXT_LIMIT, Message, joined
from dialogs.views import SHOWN_ROWS, option_data, schedule_view
from plans.engine import quote
from plans.models import Case
from plans.policy import default_policy

MORTGAGE = {
    # (480 payments from 31 Dec 2026 end on 30 Nov 2066, within 480 months of 1 Dec 2026)
    "as_of": "2026-12-01",
    "loan": {
        "loan_id": "M-1",
        "product": "mortgage",
        "outstanding_principal": "1500000",
        "overdue_principal": "20000",
        "overdue_interest": "3000",
        "penalty_fees": "500",
        "annual_rate": "0.045",
        "monthly_payment": "9000",
        "remaining_term_months": 300,
        "days_past_due": 60,
        "next_due_date": "2026-12-31",
    },
    "finances": {
        "monthly_income": "12000",
        "essential_expenses": "5000",
        "hardship_reason": "income_drop",
        "outlook": "lasting",
    },
}


@pytest.fixture(scope="module")
def longest():
    options = quote(Case.from_mapping(MORTGAGE), default_policy()).options
    return max(options, key=lambda o: o.payments)


def test_long_schedule_keeps_start_and_end(longest):
    assert longest.payments == 480
    rows = schedule_view(longest)
    assert len(rows) == SHOWN_ROWS
    assert rows[0]["number"] == 1 and rows[-1]["number"] == 480
    assert rows[-3] == {"gap": 480 - (SHOWN_ROWS - 3) - 2}


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("key", ["option_details", "plan_recorded"])
def test_long_schedule_message_fits_telegram(longest, locale, key):
    text = render(locale, key, **option_data(longest), plan_id=7)
    assert len(text) <= 4096
    assert check_telegram_html(text) == []
    assert "480" in text


def test_a_plain_text_goes_out_with_the_message_after_it_unless_that_would_pass_the_limit():
    """ "That is not an amount" and the question again arrive as one message; a message with
    buttons, a file or for the support team ends a group; nothing grows past 4,096 units."""
    error, question = Message("Not an amount."), Message("Your income?", [[("Person", "1:person")]])
    assert joined([error, question]) == [Message("Not an amount.\n\nYour income?", [[("Person", "1:person")]])]
    assert joined([question, error]) == [question, error]  # the buttons stay on the last message
    card = Message("Ticket", to_support=True)
    assert joined([error, card, error]) == [error, card, error]
    files = Message("Your schedule", attachments=("chart",), plan_id=1)
    assert joined([files, error]) == [files, error]
    long = Message("长" * (TEXT_LIMIT - 10))
    assert joined([long, question]) == [long, question]
    assert joined([Message("a"), Message("b"), Message("c")]) == [Message("a\n\nb\n\nc")]
