"""Which options to show, in what order, and which to recommend.

1. Only compliant options (term and span, APR cap, minimum instalment, re-plan limit,
   allowed structure): every option a borrower can agree to is lawful.
2. Affordable (every calendar month fits, `plans.budget`) before unaffordable.
3. Then by score: the lender's present value of the payments x the completion likelihood
   (`plans.evaluate`), so a plan the borrower can keep beats a richer one they will break.
4. Three by score, then the borrower's cheapest affordable plan if it costs less than each
   of those three (else the fourth by score), so the cheapest way out is always on the table.

The recommendation puts the borrower's interest first (policy `[recommendation]`): the
lender's favourite (the first affordable by score), unless an affordable plan costs the
borrower clearly less (`clearly_cheaper` of the favourite's total): then that one. The
recommended option is shown first, with one reason saying why:
- `recommended_only_fit`   the only plan that fits the budget;
- `recommended_cheapest`   it costs {saves} less than the lender's favourite {instead_of};
- `recommended_best_value` it fits, and no plan that fits costs clearly less;
- `recommended_by_lender`  the policy prefers the lender's favourite though {cheaper} costs
                           {saves} less.
Shown options carry comparative reasons: the lowest monthly payment, the lowest total cost,
the shortest term.
"""

from __future__ import annotations

from plans.models import Option, Reason, slot_descriptors
from plans.policy import Recommendation

SHOWN = 4


def rank(options: list[Option]) -> list[Option]:
    """The compliant options to show, in order, with their comparative reasons."""
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
    return [_with_comparisons(o, pay, term, lowest) for o, pay, term in zip(shown, largest, terms, strict=True)]


def recommend(shown: list[Option], rules: Recommendation) -> tuple[list[Option], Reason | None]:
    """(the options with the recommended one first, why it is recommended); (shown, None)
    when none is affordable."""
    affordable = [o for o in shown if o.affordable]
    if not affordable:
        return shown, None
    favourite = affordable[0]
    cheapest = min(affordable, key=lambda o: (o.total_repayable, affordable.index(o)))
    saves = favourite.total_repayable - cheapest.total_repayable
    clearly = saves > favourite.total_repayable * rules.clearly_cheaper
    if len(affordable) == 1:
        chosen, why = favourite, Reason("recommended_only_fit")
    elif clearly and rules.prefer == "borrower":
        chosen = cheapest
        why = Reason("recommended_cheapest", {"saves": str(saves), "instead_of": favourite.option_id})
    elif clearly:
        chosen = favourite
        why = Reason("recommended_by_lender", {"saves": str(saves), "cheaper": cheapest.option_id})
    else:
        chosen, why = favourite, Reason("recommended_best_value")
    return [chosen] + [o for o in shown if o is not chosen], why


def _with_comparisons(option: Option, largest_payment, term: int, lowest: tuple) -> Option:
    lowest_payment, lowest_total, shortest = lowest
    extra = []
    if largest_payment == lowest_payment:
        extra.append(Reason("lowest_monthly"))
    if option.total_repayable == lowest_total:
        extra.append(Reason("lowest_total_cost"))
    if term == shortest:
        extra.append(Reason("shortest_term"))
    return with_reasons(option, option.reasons + extra) if extra else option


_OPTION_SLOTS = slot_descriptors(Option)
_OTHER_SLOTS = [slot for name, slot in _OPTION_SLOTS.items() if name != "reasons"]
_REASONS_SLOT = _OPTION_SLOTS["reasons"]


def with_reasons(option: Option, reasons: list[Reason]) -> Option:
    """`dataclasses.replace(option, reasons=reasons)`, slot by slot (several times faster)."""
    copy = object.__new__(Option)
    for slot in _OTHER_SLOTS:
        slot.__set__(copy, slot.__get__(option))
    _REASONS_SLOT.__set__(copy, reasons)
    return copy


def recommendation_reasons(option: Option, why: Reason) -> list[Reason]:
    """Why, then what the recommended option's own reasons say in its favour."""
    keys = {
        "fits_income",
        "lowest_total_cost",
        "lowest_monthly",
        "shortest_term",
        "penalties_waived",
        "interest_frozen",
        "rate_reduced",
        "rate_capped",
        "payment_holiday",
    }
    return [why] + [r for r in option.reasons if r.key in keys]
