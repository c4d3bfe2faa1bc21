"""The restructured debt a plan repays: what is capitalised, carried, waived, and at what rate.

    principal (interest-bearing) = overdue + outstanding principal
                                   (+ overdue interest when the policy capitalises it)
    carried fees (interest-free) = penalties not waived (+ overdue interest otherwise)
                                   + fees carried from an earlier plan (never waived again)
    penalties waived             = penalty fees x the policy's waiver share for the reason,
                                   rounded half-up to the minor unit

The plan rate follows the product's interest treatment: keep the contract rate, reduce it to
the floor rate (never raise it), or freeze it at zero. The interest-freeze structure
(停息挂账) always runs at zero and asks the policy's down payment (its share of principal and
fees, rounded half-up), taken from principal first.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from plans.models import HardshipReason, Loan, Structure
from plans.money import ZERO, quantize
from plans.policy import Policy, ProductPolicy


@dataclass(frozen=True)
class Debt:
    principal: Decimal
    fees: Decimal
    rate: Decimal
    down_payment: Decimal
    interest_capitalised: Decimal
    penalties_waived: Decimal
    #: the part of the down payment that pays carried fees (when it exceeds the principal)
    down_payment_fees: Decimal = ZERO
    penalties_kept: Decimal = ZERO
    overdue_interest_carried: Decimal = ZERO
    earlier_fees: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        """Everything the borrower repays before interest under the plan."""
        return self.principal + self.fees + self.down_payment


def plan_rate(loan: Loan, rules: ProductPolicy) -> Decimal:
    if rules.interest == "freeze":
        return ZERO
    if rules.interest == "reduce":
        return min(loan.annual_rate, rules.floor_rate)
    return loan.annual_rate


def restructure(
    loan: Loan, reason: HardshipReason, policy: Policy, structure: Structure, rate: Decimal | None = None
) -> Debt:
    """The debt `structure` repays; `rate` overrides the plan rate (brought down to the APR
    cap, see `plans.engine`)."""
    rules = policy.for_product(loan.product)
    waived = quantize(loan.penalty_fees * policy.penalty_waiver.share_for(reason), loan.currency)
    kept_penalties = loan.penalty_fees - waived
    if rules.capitalise_overdue_interest:
        principal, capitalised, carried_interest = loan.principal + loan.overdue_interest, loan.overdue_interest, ZERO
    else:
        principal, capitalised, carried_interest = loan.principal, ZERO, loan.overdue_interest
    fees = kept_penalties + carried_interest + loan.carried_fees
    rate = plan_rate(loan, rules) if rate is None else rate
    disclosed = {
        "penalties_kept": kept_penalties,
        "overdue_interest_carried": carried_interest,
        "earlier_fees": loan.carried_fees,
    }
    if structure is Structure.interest_freeze:
        down = quantize((principal + fees) * rules.freeze_min_down_payment, loan.currency)
        from_principal = min(down, principal)
        principal -= from_principal
        fees -= down - from_principal
        return Debt(principal, fees, ZERO, down, capitalised, waived, down - from_principal, **disclosed)
    return Debt(principal, fees, rate, ZERO, capitalised, waived, **disclosed)
