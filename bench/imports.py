"""`loans import` at a lender's scale: rows per second against a bare sqlite-utils insert of
the same rows, and peak memory against the size of the file (issue 14).

    python bench/imports.py                          # 20,000 and 1,000,000 loans
    python bench/imports.py --large 200000           # quicker
    python bench/imports.py --profile 50000          # cProfile of the import, in this process

Goals: the import (every row checked: the engine's `Loan` model, valid phone numbers, loan
numbers, sanity of amounts, clashes between rows; then written in batches) runs at no less
than half the rate of a bare `sqlite_utils` `insert_all` of the same rows, measured in the
same run; the peak resident memory of an import of the large file is within 1.3x of the
peak for the small one.

The files (generated first, seeded, in a temporary folder; not timed)
---------------------------------------------------------------------
CSV with every column of the README's loan table, `timezone` included. About 1.25 loans per
borrower (every fifth loan belongs to the previous row's borrower, as a card next to a
consumer loan). Phones are valid Chinese mobile numbers written in the usual ways
(`13800138000`, `+86 138 0013 8000`, `138-0013-8000`); names Chinese and English; the four
products; amounts to the fen; locale and time zone on some rows. Every row is good, so the
whole file is written.

What is measured (each run in a fresh child process, so peaks do not mix)
------------------------------------------------------------------------
* `import`: `Store(path)` on a new database file (migrated before the clock starts), then
  `bot.lender.loans_import.import_loans(store, file)`: the wall clock of that call.
* `bare`: `sqlite_utils.Database(path)` on a new file in WAL mode with synchronous=NORMAL
  (as the store runs), then `db["loans"].insert_all(csv.DictReader(file))`: the rows as read,
  strings, no checks, one table, no indexes. The wall clock of that call.

Rate = rows / seconds. Peak memory is VmHWM from /proc/self/status at the end of the child
(the interpreter and its imports included); the import's own worker processes (one per CPU,
checking rows; `--workers`) report the largest worker's peak RSS (getrusage of the children),
and the figure compared is the import process's peak plus the workers' (workers x largest: an
upper bound, since forked workers share pages with their parent). Run it on a quiet machine:
the ratio compares two measurements taken seconds apart, and other work on the cores moves
both (and takes the cores the workers need).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

COLUMNS = (
    "loan_id",
    "borrower_name",
    "phone",
    "id_last4",
    "product",
    "currency",
    "outstanding_principal",
    "overdue_principal",
    "overdue_interest",
    "penalty_fees",
    "annual_rate",
    "monthly_payment",
    "remaining_term_months",
    "days_past_due",
    "next_due_date",
    "locale",
    "prior_restructures",
    "on_time_payments_last_12",
    "timezone",
)
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛"]
ENGLISH = ["Emma Li", "Jack Chen", "Olivia Wang", "Liam Zhang", "Sophia Liu", "Noah Huang"]
PRODUCTS = [
    ("credit_card", "CC", 36, "0.18"),
    ("consumer_loan", "CL", 48, "0.12"),
    ("auto_loan", "AL", 60, "0.068"),
    ("mortgage", "MG", 360, "0.045"),
]
MOBILE_PREFIXES = [
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "185",
    "186",
    "187",
    "188",
    "189",
]
ZONES = ["", "", "", "", "Asia/Shanghai", "Asia/Hong_Kong", "Europe/London"]


def _phone(rng: random.Random, n: int) -> str:
    digits = f"{rng.choice(MOBILE_PREFIXES)}{n % 10**8:08d}"
    style = n % 3
    if style == 0:
        return digits
    if style == 1:
        return f"+86 {digits[:3]} {digits[3:7]} {digits[7:]}"
    return f"{digits[:3]}-{digits[3:7]}-{digits[7:]}"


def write_file(path: Path, rows: int, seed: int = 14) -> None:
    """A good loan file of `rows` rows (see the module docstring)."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        borrower = None
        for n in range(rows):
            if borrower is None or n % 5:
                name = rng.choice(ENGLISH) if rng.random() < 0.2 else rng.choice(SURNAMES) + rng.choice(GIVEN)
                borrower = (
                    name,
                    _phone(rng, n * 7919 + 13),
                    f"{rng.randrange(1000):03d}{rng.choice('0123456789X')}",
                    rng.choice(["zh_CN", "zh_CN", "en", ""]),
                    rng.choice(ZONES),
                )
            product, prefix, max_term, rate = rng.choice(PRODUCTS)
            monthly = Decimal(rng.randrange(30_000, 900_000)) / 100
            term = rng.randint(1, max_term)
            outstanding = (monthly * term * Decimal("0.85")).quantize(Decimal("0.01"))
            missed = rng.randint(1, 6)
            overdue = min(outstanding, (monthly * missed * Decimal("0.8")).quantize(Decimal("0.01")))
            writer.writerow(
                [
                    f"{prefix}-{n:07d}",
                    borrower[0],
                    borrower[1],
                    borrower[2],
                    product,
                    "CNY",
                    outstanding,
                    overdue,
                    (overdue * Decimal("0.05")).quantize(Decimal("0.01")),
                    rng.choice(["0", "35.50", "120", "480.00"]),
                    rate,
                    monthly,
                    term,
                    missed * 30 - rng.randint(0, 20),
                    f"2027-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    borrower[3],
                    rng.choice(["0", "0", "1"]),
                    rng.choice(["", "3", "8", "12"]),
                    borrower[4],
                ]
            )


def peak_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def measure(kind: str, file: Path, folder: Path, workers: int) -> dict:
    """Run in the child: one import (or bare insert) of `file` into a new database."""
    database = folder / f"{kind}.db"
    worker_peak_kib = 0
    if kind == "import":
        import resource

        from bot.lender.loans_import import import_loans
        from bot.store import Store

        store = Store(database)
        start = time.perf_counter()
        report = import_loans(store, file, workers=workers or None)
        seconds = time.perf_counter() - start
        rows, workers = report.new + report.updated, report.workers
        store.close()
        worker_peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    else:
        import sqlite_utils

        db = sqlite_utils.Database(database)
        db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")
        start = time.perf_counter()
        with file.open(encoding="utf-8", newline="") as handle:
            db["loans"].insert_all(csv.DictReader(handle))
        seconds = time.perf_counter() - start
        rows = db["loans"].count
        db.close()
    workers_mib = round(worker_peak_kib / 1024, 1)
    return {
        "kind": kind,
        "rows": rows,
        "seconds": round(seconds, 2),
        "rate": round(rows / seconds),
        "workers": workers,
        "peak_mib": round(peak_kib() / 1024, 1),
        "worker_peak_mib": workers_mib,
        "total_mib": round(peak_kib() / 1024 + (workers if workers_mib else 0) * workers_mib, 1),
    }


def run_child(kind: str, file: Path, folder: Path, workers: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", kind, str(file), str(folder), str(workers)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode:
        raise SystemExit(f"{kind} of {file} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=20_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes checking rows (default: as `loans import` chooses: one per CPU)",
    )
    parser.add_argument("--profile", type=int, metavar="ROWS", help="cProfile an import of ROWS rows instead")
    parser.add_argument("--measure", nargs=4, metavar=("KIND", "FILE", "FOLDER", "WORKERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        kind, file, folder, workers = args.measure
        print(json.dumps(measure(kind, Path(file), Path(folder), int(workers))))
        return
    with tempfile.TemporaryDirectory(prefix="bench-imports-") as tmp:
        folder = Path(tmp)
        if args.profile:
            import cProfile
            import pstats

            from bot.lender.loans_import import import_loans
            from bot.store import Store

            file = folder / "loans.csv"
            write_file(file, args.profile)
            store = Store(folder / "profile.db")
            cProfile.runctx(
                "import_loans(store, file, workers=1)",
                {},
                {"import_loans": import_loans, "store": store, "file": file},
                str(folder / "prof"),
            )
            pstats.Stats(str(folder / "prof")).sort_stats("tottime").print_stats(25)
            return
        results = {}
        for rows in (args.small, args.large):
            file = folder / f"loans-{rows}.csv"
            start = time.perf_counter()
            write_file(file, rows)
            print(
                f"{rows:,} rows: file of {file.stat().st_size / 2**20:.1f} MiB written in"
                f" {time.perf_counter() - start:.1f} s",
                flush=True,
            )
            for kind in ("bare", "import"):
                (folder / f"{kind}.db").unlink(missing_ok=True)
                for suffix in ("-wal", "-shm"):
                    (folder / f"{kind}.db{suffix}").unlink(missing_ok=True)
                results[rows, kind] = result = run_child(kind, file, folder, args.workers)
                workers = (
                    f" + {result['workers']} workers x {result['worker_peak_mib']:.1f} MiB ="
                    f" {result['total_mib']:.1f} MiB"
                    if result["worker_peak_mib"]
                    else ""
                )
                print(
                    f"  {kind:<6} {result['rows']:>9,} rows in {result['seconds']:>7.2f} s ="
                    f" {result['rate']:>7,} rows/s, peak {result['peak_mib']:.1f} MiB{workers}",
                    flush=True,
                )
            ratio = results[rows, "import"]["rate"] / results[rows, "bare"]["rate"]
            print(f"  import rate / bare rate = {ratio:.2f} (goal >= 0.5)", flush=True)
        for what in ("peak_mib", "total_mib"):
            growth = results[args.large, "import"][what] / results[args.small, "import"][what]
            name = "the import process" if what == "peak_mib" else "the import with its workers"
            print(f"peak memory of {name}, {args.large:,} rows / {args.small:,} rows = {growth:.2f} (goal <= 1.3)")
        print(f"load average now: {os.getloadavg()[0]:.2f} (1 min)")


if __name__ == "__main__":
    main()
