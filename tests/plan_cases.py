"""The engine tests' cases and policies: a case (the card of tests/data/case_card.json, or any
case given as a dict) or the shipped policy, with a few fields changed.

    case(loan__annual_rate="0.24", finances__savings_available=None)   None drops the field
    case(ISSUE_CARD, as_of="2026-12-01")                                another base case
    policy("mortgage", max_term_months=480, top__apr_cap=D(10))         top__: a top-level key
"""

from __future__ import annotations

import copy
import json
from typing import Any

from paths import DATA
from plans.models import Case
from plans.policy import Policy, default_policy

CARD: dict[str, Any] = json.loads((DATA / "case_card.json").read_text())


def case(base: dict[str, Any] = CARD, **changes: Any) -> Case:
    """`base` with changes: `loan__field=value`, `finances__field=value`, `as_of=...`."""
    data = copy.deepcopy(base)
    for key, value in changes.items():
        if key == "as_of":
            data["as_of"] = value
            continue
        section, field = key.split("__")
        if value is None:
            data[section].pop(field, None)
        else:
            data[section][field] = value
    return Case.from_mapping(data)


def policy(product: str = "credit_card", **rules: Any) -> Policy:
    """The shipped policy with one product's rules changed (top-level keys with `top__`)."""
    data = default_policy().model_dump()
    for key, value in rules.items():
        if key.startswith("top__"):
            data[key.removeprefix("top__")] = value
        else:
            data["products"][product][key] = value
    return Policy.model_validate(data)
