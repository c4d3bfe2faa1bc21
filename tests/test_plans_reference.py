"""The public worked figures (/work/shared/reference/plan-figures.md), reproduced through the
engine's own functions: schedules from `plans.schedule`, rates from `plans.apr`, and the
interest-freeze plan from the structure builder itself."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D
from itertools import pairwise

import pytest

from plan_cases import policy
from plans.apr import apr_from_monthly, dated_irr, monthly_irr
from plans.context import Context
from plans.models import Case, Structure
from plans.policy import Policy
from plans.schedule import Basis, equal_principal_rows, level_payment, scales_by_term, shaped_schedule
from plans.structures import interest_freeze

# One regular month between agreeing and the first due date, so every period is exactly 1.
AS_OF, FIRST_DUE = date(2026, 1, 5), date(2026, 2, 5)


def basis(principal: str, annual_rate: str, currency: str = "CNY") -> Basis:
    return Basis(D(principal), D(0), D(annual_rate), currency, AS_OF, FIRST_DUE, FIRST_DUE.day)


def flows(principal: D, rows) -> list[tuple[D, D]]:
    return [(D(0), principal)] + [(D(k), -row.payment) for k, row in enumerate(rows, 1)]


def test_level_payment_100k_6pct_36_months():
    assert level_payment(basis("100000", "0.06"), 36) == D("3042.19")


def test_level_schedule_pays_the_level_amount_and_clears_the_balance():
    b = basis("100000", "0.06")
    scale, fee_scale = scales_by_term(b, [D(1)] * 36)[-1]
    rows, _ = shaped_schedule(b, [D(1)] * 36, scale, fee_scale)
    assert {row.payment for row in rows[:-1]} == {D("3042.19")}
    # The last row clears what rounding each payment to the cent left over: at most half a
    # cent per payment, grown by interest (36 x 0.005 x 1.005^36 < 0.22).
    assert D("3042.19") <= rows[-1].payment <= D("3042.19") + D("0.22")
    assert rows[-1].balance == 0
    assert sum(row.principal for row in rows) == D("100000")


def test_equal_principal_100k_6pct_36_months():
    rows = equal_principal_rows(basis("100000", "0.06"), 36)
    assert len(rows) == 36
    assert rows[0].payment == D("3277.78")
    assert rows[0].interest == D("500.00")
    assert rows[-1].payment == D("2791.67")
    assert sum(row.interest for row in rows) == D("9250.00")
    assert sum(row.principal for row in rows) == D("100000")
    # Every principal part is within a cent of 100,000 / 36.
    assert all(abs(row.principal - D(100000) / 36) < D("0.01") for row in rows)


def test_graduated_payments_10k_1pct_monthly_growing_2pct():
    b = basis("10000", "0.12")
    weights = [D("1.02") ** k for k in range(12)]
    scale, fee_scale = scales_by_term(b, weights)[-1]
    assert fee_scale == 0
    rows, _ = shaped_schedule(b, weights, scale, fee_scale)
    assert rows[0].payment == D("796.81")
    # The scheduled last payment is 990.73; the last row also clears the cents that rounding
    # the earlier payments left behind, so it may differ from it by a cent.
    assert (scale * weights[-1]).quantize(D("0.01")) == D("990.73")
    assert abs(rows[-1].payment - D("990.73")) <= D("0.01")
    assert rows[-1].balance == 0
    assert all(a.payment < b.payment for a, b in pairwise(rows))
    assert abs(monthly_irr(flows(D(10000), rows)) - D("0.01")) < D("0.000001")


def test_apr_on_the_actual_dates_with_a_45_day_first_period():
    """10,000 on 1 Jan 2026, 12 x 900 on the 15th from 15 Feb 2026: APR 13.5241%, effective
    14.3947% (time = days / (365/12)); the month grid would say 14.4521%."""
    flows = [(date(2026, 1, 1), D(10000))] + [
        (date(2026 + (m > 12), (m - 1) % 12 + 1, 15), D(-900)) for m in range(2, 14)
    ]
    assert flows[1][0] == date(2026, 2, 15) and flows[-1][0] == date(2027, 1, 15)
    rate = dated_irr(date(2026, 1, 1), flows)
    apr, effective = apr_from_monthly(rate)
    assert apr.quantize(D("0.000001")) == D("0.135241")
    assert effective.quantize(D("0.000001")) == D("0.143947")
    on_a_grid, _ = apr_from_monthly(monthly_irr([(D(0), D(10000))] + [(D(k), D(-900)) for k in range(1, 13)]))
    assert on_a_grid.quantize(D("0.000001")) == D("0.144521")


def test_flat_fee_apr_12000_over_12_months():
    rate = monthly_irr([(D(0), D(12000))] + [(D(k), D(-1072)) for k in range(1, 13)])
    assert rate.quantize(D("0.000001")) == D("0.010862")
    apr, effective = apr_from_monthly(rate)
    assert apr.quantize(D("0.0001")) == D("0.1303")
    assert effective.quantize(D("0.0001")) == D("0.1384")


def freeze_policy() -> Policy:
    return policy(
        max_term_months=60,
        min_installment=D(100),
        freeze_min_down_payment=D("0.10"),
        top__affordability={"max_share_of_disposable": D("0.80"), "min_income_left": D(0)},
        top__penalty_waiver={"default": D(0), "by_reason": {}},
    )


def freeze_case() -> Case:
    # Disposable income 1,125 a month; 80% of it, 900, is all one payment may take, so the
    # shortest affordable interest-free term for 54,000 is exactly 60 months. (Agreed on 10
    # March with payments on the 10th from 10 April, so the 60th, on 10 March 2031, is within
    # the five years.)
    return Case.from_mapping(
        {
            "as_of": "2026-03-10",
            "loan": {
                "loan_id": "CC-FREEZE",
                "product": "credit_card",
                "outstanding_principal": "60000",
                "overdue_principal": "0",
                "overdue_interest": "0",
                "penalty_fees": "0",
                "annual_rate": "0.18",
                "monthly_payment": "2000",
                "remaining_term_months": 36,
                "days_past_due": 90,
                "next_due_date": "2026-04-10",
            },
            "finances": {
                "monthly_income": "3125",
                "essential_expenses": "2000",
                "savings_available": "6000",
                "outlook": "lasting",
            },
        }
    )


def test_interest_freeze_60000_ten_percent_down_sixty_months_at_zero():
    option = interest_freeze(Context(freeze_case(), freeze_policy()))
    assert option.structure is Structure.interest_freeze
    assert option.down_payment == D("6000.00")
    down, *instalments = option.schedule
    assert down.kind == "down_payment" and down.payment == D("6000.00")
    assert down.due_date == date(2026, 3, 17)
    assert len(instalments) == 60
    assert {row.payment for row in instalments} == {D("900.00")}
    assert all(row.interest == 0 for row in option.schedule)
    assert instalments[0].due_date == date(2026, 4, 10)
    assert instalments[-1].due_date == date(2031, 3, 10)
    assert instalments[-1].balance == 0
    assert option.plan_rate == 0 and option.apr == 0 and option.total_interest == 0
    assert option.total_repayable == D("60000.00")
    assert option.affordable and option.compliant
    assert option.option_id == "interest_freeze-60"


def test_interest_freeze_term_is_the_shortest_that_fits():
    # One month fewer would need 54,000 / 59 = 915.25 a month, above the 900 affordable.
    option = interest_freeze(Context(freeze_case(), freeze_policy()))
    assert D(54000) / 59 > D(900) >= D(54000) / 60
    assert len(option.instalments) == 60


def test_hamp_payment_at_2pct_over_480_months_exceeds_target():
    payment = level_payment(basis("220000", "0.02", "USD"), 480)
    assert payment == D("666.22")
    target = D("3000") * D("0.31") - D("300")
    assert target == D("630.00")
    assert payment > target


@pytest.mark.parametrize(
    "principal, rate, months, numpy_figure",
    [("100000", "0.06", 36, "3042.19"), ("220000", "0.02", 480, "666.22"), ("12000", "0", 12, "1000.00")],
)
def test_level_payment_table(principal, rate, months, numpy_figure):
    assert level_payment(basis(principal, rate), months) == D(numpy_figure)
