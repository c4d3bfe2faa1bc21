"""Which options to show, in what order, and which to recommend.

1. Only compliant options (term, APR cap, minimum instalment, re-plan limit, allowed structure).
2. Affordable before unaffordable.
3. Then by score: the lender's present value of the payments x the completion likelihood
   (`plans.evaluate`), so a plan the borrower can keep beats a richer one they will break.
4. Three by score, then the borrower's cheapest affordable plan if it is not among them
   (else the fourth by score), so the cheapest way out is always on the table.
The first is recommended. Shown options carry comparative reasons: the lowest monthly
payment, the lowest total cost, the shortest term.
"""
from __future__ import annotations

from plans.models import Option, Reason

SHOWN = 4


def rank(options: list[Option]) -> list[Option]:
    compliant = [o for o in options if o.compliant]
    ordered = sorted(compliant, key=lambda o: (not o.affordable, -o.score, o.option_id))
    shown = ordered[: SHOWN - 1]
    rest = ordered[SHOWN - 1 :]
    cheapest = min((o for o in rest if o.affordable), key=lambda o: o.total_repayable, default=None)
    if cheapest is not None and cheapest.total_repayable < min(o.total_repayable for o in shown):
        shown.append(cheapest)
    elif rest:
        shown.append(rest[0])
    if len(shown) < 2:
        return shown
    largest = [o.largest_payment for o in shown]
    terms = [len(o.instalments) for o in shown]
    lowest = (min(largest), min(o.total_repayable for o in shown), min(terms))
    return [_with_comparisons(o, pay, term, lowest) for o, pay, term in zip(shown, largest, terms)]


def _with_comparisons(option: Option, largest_payment, term: int, lowest: tuple) -> Option:
    lowest_payment, lowest_total, shortest = lowest
    extra = []
    if largest_payment == lowest_payment:
        extra.append(Reason("lowest_monthly"))
    if option.total_repayable == lowest_total:
        extra.append(Reason("lowest_total_cost"))
    if term == shortest:
        extra.append(Reason("shortest_term"))
    return _with_reasons(option, option.reasons + extra) if extra else option


_OPTION_SLOTS = [getattr(Option, name) for name in Option.__slots__]


def _with_reasons(option: Option, reasons: list[Reason]) -> Option:
    """`dataclasses.replace(option, reasons=reasons)`, slot by slot (several times faster)."""
    copy = object.__new__(Option)
    for slot in _OPTION_SLOTS:
        slot.__set__(copy, slot.__get__(option))
    Option.reasons.__set__(copy, reasons)
    return copy


def recommendation_reasons(option: Option) -> list[Reason]:
    keys = {"fits_income", "lowest_total_cost", "lowest_monthly", "shortest_term",
            "penalties_waived", "interest_frozen", "rate_reduced"}
    return [Reason("best_balance")] + [r for r in option.reasons if r.key in keys]
