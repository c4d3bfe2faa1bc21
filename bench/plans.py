"""Benchmark of the plan engine: how many quotes a second, and how the term length costs.

    python bench/plans.py                 # 10,000 card cases, 10,000 mortgage cases
    python bench/plans.py --cases 2000    # quicker
    python bench/plans.py --profile card  # cProfile one pass over the card cases instead

It generates realistic random cases (seeded, so every run quotes the same cases) and runs
`plans.engine.quote` with the shipped policy: every structure the product allows, full
schedules, APR by IRR, ranking. Three figures:

- single process: cases a second and milliseconds per case, credit cards (plans of up to 60
  months) and mortgages (up to 480 months), one after the other in this process;
- the ratio of per-case time, mortgage / credit card (480 vs 60 months);
- multi-process: credit-card cases a second with one worker process per core
  (multiprocessing.Pool), the throughput a server would see.

Goals on a 2-core machine: >= 1,000 credit-card cases a second; ratio <= 10.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import random
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from plans.engine import quote  # noqa: E402
from plans.models import Case, HardshipReason  # noqa: E402
from plans.policy import default_policy  # noqa: E402

SEED = 20261128

REASONS = [reason.value for reason in HardshipReason]


def _money(value: float, places: int = 2) -> str:
    return str(Decimal(repr(round(value, places))).quantize(Decimal(1).scaleb(-places)))


def make_case(rng: random.Random, product: str) -> dict:
    """One borrower in arrears, with amounts typical of the product (CNY)."""
    as_of = date(2026, 1, 1) + timedelta(days=rng.randrange(0, 365 * 2))
    if product == "mortgage":
        principal = rng.uniform(300_000, 3_000_000)
        rate = rng.choice([0.031, 0.035, 0.041, 0.049, 0.055])
        income = rng.uniform(8_000, 40_000)
        monthly = principal * 0.006
    else:
        principal = rng.uniform(3_000, 150_000)
        rate = rng.choice([0.12, 0.15, 0.18, 0.1825])
        income = rng.uniform(3_000, 25_000)
        monthly = principal * 0.06
    overdue = principal * rng.uniform(0.02, 0.2)
    months_late = rng.randint(1, 8)
    essential = income * rng.uniform(0.35, 0.8)
    other_debt = income * rng.choice([0, 0, 0.05, 0.1, 0.2])
    finances: dict = {
        "monthly_income": _money(income),
        "income_kind": rng.choice(["salary", "salary", "self_employed", "seasonal", "pension", "benefits"]),
        "essential_expenses": _money(essential),
        "other_debt_payments": _money(other_debt),
        "dependants": rng.randint(0, 3),
        "savings_available": _money(rng.choice([0, 0, 1, 5, 20]) * income * rng.random()),
        "hardship_reason": rng.choice(REASONS),
        "outlook": rng.choice(["temporary", "temporary", "lasting", "unsure"]),
    }
    if rng.random() < 0.5:
        finances["expected_recovery_months"] = rng.randint(2, 24)
        finances["income_after_recovery"] = _money(income * rng.uniform(0.7, 1.6))
    if finances["income_kind"] in ("seasonal", "self_employed") and rng.random() < 0.7:
        start = rng.randint(1, 12)
        finances["high_income_months"] = {
            "months": sorted({(start + k - 1) % 12 + 1 for k in range(rng.randint(2, 4))}),
            "monthly_income": _money(income * rng.uniform(1.3, 2.5)),
        }
    return {
        "as_of": as_of.isoformat(),
        "loan": {
            "loan_id": f"{product[:2].upper()}-{rng.randrange(10**6):06d}",
            "product": product,
            "outstanding_principal": _money(principal),
            "overdue_principal": _money(overdue),
            "overdue_interest": _money(overdue * rate / 12 * months_late),
            "penalty_fees": _money(rng.choice([0, 50, 200, 800]) * months_late),
            "annual_rate": str(rate),
            "monthly_payment": _money(monthly),
            "remaining_term_months": rng.randint(6, 360 if product == "mortgage" else 36),
            "days_past_due": months_late * 30 + rng.randint(0, 29),
            "next_due_date": (as_of + timedelta(days=rng.randint(1, 30))).isoformat(),
            "prior_restructures": rng.choice([0, 0, 0, 1]),
            "on_time_payments_last_12": rng.choice([None, rng.randint(0, 12)]),
        },
        "finances": finances,
    }


def make_cases(count: int, product: str, seed: int = SEED) -> list[Case]:
    rng = random.Random(f"{seed}-{product}")
    return [Case.from_mapping(make_case(rng, product)) for _ in range(count)]


def run_all(cases: list[Case]) -> tuple[int, int, int]:
    """Quote every case: (options shown, their payments in all, the longest plan shown)."""
    policy = default_policy()
    options = payments = longest = 0
    for case in cases:
        for option in quote(case, policy).options:
            options += 1
            payments += len(option.schedule)
            longest = max(longest, len(option.schedule))
    return options, payments, longest


def timed(cases: list[Case]) -> tuple[float, float, tuple[int, int, int]]:
    """(wall seconds, CPU seconds of this process, run_all's counts) for quoting `cases`."""
    start, cpu = time.perf_counter(), time.process_time()
    counts = run_all(cases)
    return time.perf_counter() - start, time.process_time() - cpu, counts


_CASES: list[Case] = []


def _load(count: int, product: str) -> None:
    """Pool initializer: each worker builds the same seeded cases (not timed) and warms up."""
    _CASES[:] = make_cases(count, product)
    run_all(_CASES[:20])


def _worker(part: tuple[int, int]) -> tuple[int, int, int]:
    index, workers = part
    return run_all(_CASES[index::workers])


def _ready(_: int) -> int:
    time.sleep(0.2)
    return os.getpid()


def parallel(count: int, product: str, workers: int) -> float:
    """Wall time for `workers` processes to quote the cases between them."""
    # "spawn": fresh workers, not forks of this process with its thousands of cases (a
    # forked worker's garbage collector walks them all, copying pages as it goes).
    with get_context("spawn").Pool(workers, initializer=_load, initargs=(count, product)) as pool:
        while len(set(pool.map(_ready, range(workers), chunksize=1))) < workers:
            pass  # until every worker has loaded its cases
        start = time.perf_counter()
        pool.map(_worker, [(i, workers) for i in range(workers)], chunksize=1)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per product (default 10,000)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--profile", choices=["card", "mortgage"], help="cProfile one product and stop")
    args = parser.parse_args()

    print(
        f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores "
        f"(nproc), {args.cases:,} cases per product, seed {SEED}; "
        f"load average before: {os.getloadavg()[0]:.2f}"
    )
    cards = make_cases(args.cases, "credit_card")
    mortgages = make_cases(args.cases, "mortgage")
    run_all(cards[:50] + mortgages[:10])  # warm up

    if args.profile:
        profiler = cProfile.Profile(time.process_time)  # CPU time: robust to other load
        profiler.runcall(run_all, cards if args.profile == "card" else mortgages)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return

    card_time, card_cpu, card_options = timed(cards)
    mortgage_time, mortgage_cpu, mortgage_options = timed(mortgages)
    print("single process (one core); wall clock, and this process's CPU time in brackets:")
    for name, count, wall, cpu, (options, payments, longest) in (
        ("credit card, <= 60 months ", len(cards), card_time, card_cpu, card_options),
        ("mortgage,   <= 480 months", len(mortgages), mortgage_time, mortgage_cpu, mortgage_options),
    ):
        print(
            f"  {name}: {count / wall:6.0f} cases/s  {wall / count * 1000:6.3f} ms/case  "
            f"[CPU {count / cpu:6.0f} cases/s  {cpu / count * 1000:6.3f} ms/case]"
        )
        print(
            f"      {options / count:.1f} options shown per case, {payments / options:.0f} payments each "
            f"on average, longest {longest}"
        )
    print(
        f"  per-case time ratio, 480 / 60 months: {(mortgage_time / len(mortgages)) / (card_time / len(cards)):.2f} "
        f"[CPU {(mortgage_cpu / len(mortgages)) / (card_cpu / len(cards)):.2f}]  (goal <= 10)"
    )
    if args.workers > 1:
        wall = parallel(len(cards), "credit_card", args.workers)
        print(f"multi-process ({args.workers} worker processes):")
        print(f"  credit card: {len(cards) / wall:8.0f} cases/s  (goal >= 1,000)")
    else:
        print(f"credit card throughput: {len(cards) / card_time:.0f} cases/s (one process; goal >= 1,000)")
    print(f"load average after: {os.getloadavg()[0]:.2f} (other processes on the machine skew the figures)")


if __name__ == "__main__":
    main()
