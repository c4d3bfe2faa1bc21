"""bench/throughput.py still holds whole conversations: a few borrowers, run exactly as the
benchmark runs them (real Application, fake Bot API, SQLite file, the three phases), each agree
a plan, so a change to the dialogue cannot leave the benchmark timing conversations that fail.
A budget that fits no plan ends with a person, not as a failure; a script that expects a button
the bot did not offer says which step it expected, what was offered and where the bot is."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from paths import ROOT


@pytest.fixture(scope="module")
def tp() -> ModuleType:
    """bench/throughput.py as a module (bench/ is not a package; bench/memory.py imports it by
    this name too)."""
    if "throughput" in sys.modules:
        return sys.modules["throughput"]
    spec = importlib.util.spec_from_file_location("throughput", ROOT / "bench" / "throughput.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["throughput"] = module
    spec.loader.exec_module(module)
    return module


def test_every_scripted_conversation_ends_with_a_plan_in_every_phase(tp, tmp_path, capsys):
    result = tp.main(["--borrowers", "5", "--db-dir", str(tmp_path), "--time-limit", "60"])
    ours, echo, replay = result["ours"], result["echo"], result["replay"]
    printed = capsys.readouterr().out
    assert ours.problems == [], printed
    assert result["outcomes"] == {"plan": 5}, printed
    assert result["plans"] == 5, printed
    assert ours.updates == 5 * len(tp.PATH), printed
    for phase in (ours, echo, replay):
        assert (phase.completed, phase.stopped_by_limit, phase.problems) == (5, False, []), printed
        assert phase.updates == ours.updates
    assert "plans recorded: 5 of 5 conversations" in printed
    assert "measure: ours/replay by CPU time per update" in printed


def _turn(tp: ModuleType, step: str) -> int:
    """The number of the script's turn that answers `step`."""
    return next(n for n, (_, at) in enumerate(tp.PATH) if at == step)


def _run_ours(tp: ModuleType, folder: Path, changes: dict[str, str]) -> tuple[object, int]:
    """One borrower through our bot alone, with the answers at the given steps changed; the
    borrower (outcome, problem, updates sent) and the number of plans recorded."""
    borrower, row = tp.make_borrower(0, tp.SEED)
    for step, value in changes.items():
        turn = _turn(tp, step)
        borrower.script[turn] = (borrower.script[turn][0], value)
    _, plans = asyncio.run(tp.run_ours(folder / "bench.db", [borrower], [row], [], 60.0, None))
    return borrower, plans


def test_a_budget_that_fits_no_plan_ends_with_a_person(tp, tmp_path):
    income = tp.make_borrower(0, tp.SEED)[0].script[_turn(tp, "income")][1]
    # essentials take all the income, now and after the recovery, and there are no savings
    handed, plans = _run_ours(tp, tmp_path, {"income_after": income, "expenses_total": income, "savings": "0"})
    assert (handed.outcome, handed.done, handed.problem, plans) == ("person", True, None, 0)
    assert len(handed.sent) == _turn(tp, "options")  # handed over on entering the plans, none to choose
    assert handed.sent[-1]["callback_query"]["data"].endswith(":next:")  # the budget's "see the plans"


def test_a_button_not_offered_names_the_step_the_buttons_and_the_last_message(tp, tmp_path):
    stuck, plans = _run_ours(tp, tmp_path, {"expenses_mode": "pick:weekly"})
    assert (stuck.outcome, stuck.done, plans) == (None, False, 0)
    problem = stuck.problem
    assert "no 'pick:weekly' button" in problem and "expected at step expenses_mode" in problem
    assert ":pick:total" in problem and ":pick:items" in problem  # what was offered instead
    assert "the conversation is at step expenses_mode" in problem
    assert "last message: '" in problem and "last message: ''" not in problem
