"""The engine against independent oracles: numpy-financial (float closed forms and IRR) and
the EU consumer-credit annex's equation on actual dates, solved here by bisection.

For random principal, rate and term: the level payment equals `numpy_financial.pmt` within a
cent; a level option built by the engine (as of exactly one month before its first due date,
so every period is a whole month of the schedule) repays at its plan rate on the month grid
(`numpy_financial.irr` of the flows one month apart), and its APR is the annex's: the
monthly rate r with sum(amount x (1 + r)^(-days / (365/12))) = 0, times 12. Months of 28 to
31 days make the two differ (a 28-day first month charged a month's interest costs more).
"""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal as D

import numpy as np
import numpy_financial as npf
from hypothesis import example, given, settings
from hypothesis import strategies as st

from plan_cases import policy
from plans.engine import custom_quote
from plans.models import Case, Structure
from plans.schedule import Basis, level_payment

settings.register_profile("quick", max_examples=150, deadline=None)
settings.register_profile("long", max_examples=3000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))

CENT = D("0.01")

principals = st.integers(min_value=100_000, max_value=500_000_000).map(lambda cents: D(cents) / 100)
rates = st.integers(min_value=0, max_value=3600).map(lambda bp: D(bp) / 10_000)  # 0% .. 36%
terms = st.integers(min_value=1, max_value=480)
as_of_dates = st.dates(min_value=date(2024, 1, 1), max_value=date(2035, 12, 31))


#: Keep the contract rate, allow 480 months and any APR, so the plan is a plain annuity.
POLICY = policy(
    "mortgage",
    interest="keep",
    min_installment=D(0),
    max_term_months=480,
    top__apr_cap=D(10),
    top__first_due_min_days=14,
)


def mortgage_case(as_of: date, principal: D, rate: D) -> Case:
    """The contract's due day is as_of's day (at most the 28th), so the first due date is
    exactly one month after as_of."""
    return Case.from_mapping(
        {
            "as_of": as_of.isoformat(),
            "loan": {
                "loan_id": "ORACLE",
                "product": "mortgage",
                "outstanding_principal": str(principal),
                "overdue_principal": "0",
                "annual_rate": str(rate),
                "monthly_payment": "1000",
                "remaining_term_months": 240,
                "days_past_due": 60,
                "next_due_date": as_of.isoformat(),
            },
            "finances": {"monthly_income": "1000000", "essential_expenses": "1000"},
        }
    )


@given(principal=principals, rate=rates, months=terms)
def test_level_payment_matches_numpy_financial_pmt(principal, rate, months):
    basis = Basis(principal, D(0), rate, "CNY", date(2026, 1, 5), date(2026, 2, 5), 5)
    ours = level_payment(basis, months)
    theirs = npf.pmt(float(rate) / 12, months, -float(principal))
    assert abs(float(ours) - theirs) <= 0.01
    assert ours == ours.quantize(CENT)


@given(
    principal=principals,
    rate=rates,
    months=terms,
    as_of=as_of_dates.filter(lambda d: d.day <= 28),
)
@example(principal=D("8148.46"), rate=D("0.36"), months=358, as_of=date(2024, 1, 1))  # ended 0.00 (found)
def test_level_option_apr_is_its_plan_rate(principal, rate, months, as_of):
    option = custom_quote(mortgage_case(as_of, principal, rate), POLICY, months=months)
    assert option.structure is Structure.custom
    assert option.plan_rate == rate
    first = option.schedule[0]
    assert (first.due_date.year * 12 + first.due_date.month) - (as_of.year * 12 + as_of.month) == 1
    assert first.due_date.day == as_of.day
    # Every month named is paid, unless a schedule that is nearly all interest (a high rate
    # over decades) repays early by rounding alone: then it ends a month or so early with the
    # row that clears everything, and never asks 0.00.
    assert len(option.schedule) <= months
    assert len(option.schedule) == months or first.interest >= first.payment * D("0.9")
    assert all(row.payment > 0 for row in option.schedule)

    expected_payment = npf.pmt(float(rate) / 12, months, -float(principal))
    assert all(abs(float(row.payment) - expected_payment) <= 0.01 for row in option.schedule[:-1])

    # APR = the annex's monthly rate on actual dates x 12, solved independently.
    annex = annex_monthly_rate(as_of, principal, option.schedule)
    assert abs(float(option.apr) - 12 * annex) <= 1e-7
    assert option.effective_annual_rate >= option.apr - D("0.00000001")
    # ... which is near the plan rate: at most 1/9 off (a month of 28 instead of 365/12 days,
    # for a one-month plan; plus a cent of rounding).
    assert abs(option.apr - rate) <= rate / 9 + D("0.0002")

    # On the month grid (flows one month apart) the schedule repays at exactly the plan rate.
    if months <= 240:  # npf.irr solves a polynomial of the term's degree; keep it small
        flows = [float(principal)] + [-float(row.payment) for row in option.schedule]
        irr = npf.irr(flows)
        assert abs(irr * 12 - float(rate)) <= 0.0001


def annex_monthly_rate(as_of: date, financed: D, rows) -> float:
    """Bisection on sum(amount x (1 + r)^(-days / (365/12))) = 0 (numpy, 100 halvings)."""
    t = np.array([0.0] + [(row.due_date - as_of).days / (365 / 12) for row in rows])
    amounts = np.array([float(financed)] + [-float(row.payment) for row in rows])

    def npv(r: float) -> float:
        return float(np.sum(amounts * (1.0 + r) ** -t))

    low, high = -0.5, 1.0
    for _ in range(100):
        middle = (low + high) / 2
        if (npv(low) > 0) == (npv(middle) > 0):
            low = middle
        else:
            high = middle
    return (low + high) / 2
