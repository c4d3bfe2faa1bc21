"""When plans fit the borrower's budget but the lender's rules bar them all (here the APR cap,
with a policy that wants a person to approve rather than cut the rate), the borrower is told
so and handed to a person with the reason: never "nothing fits your budget, 0.00 short"."""

from __future__ import annotations

from decimal import Decimal

import pytest

from borrower_chat import to_options
from plans.policy import Policy, default_policy

SUPPORT = -100777


def strict_policy() -> Policy:
    data = default_policy().model_dump()
    data.update(apr_cap=Decimal("0.05"), above_apr_cap="needs_approval")
    data["products"]["credit_card"]["structures"] = ["level", "equal_principal", "custom"]  # all at 6%
    return Policy.model_validate(data)


@pytest.fixture
def app_options():
    """`chat` (the shared fixture) with a support group, in English, under a strict policy."""
    return {"support_chat_id": SUPPORT, "default_locale": "en", "policy": strict_policy()}


async def test_plans_barred_by_a_lender_rule_go_to_a_person_with_the_reason(chat):
    text = await to_options(chat)
    assert "plans that fit your budget" in text and "approve" in text
    assert "0.00" not in text and "could not find a plan that fits" not in text
    card = chat.fake.sent_messages(SUPPORT)[-1]["text"]
    assert "need a person's approval" in card
