"""How the reminder dispatcher's queries scale: time to select the due reminders (and the
unpaid instalments past their grace days) with 10,000 and with 1,000,000 instalments stored.

Goal (issue 4): the larger costs at most 1.5x the smaller, i.e. the queries use their
indexes (reminders(status, send_at), installments(status, due_date)) instead of scanning.

    python bench/reminders.py [--small 10000] [--large 1000000]

Each database gets one plan per 12 instalments, three reminders per instalment (3 days
before, on the day, 1 day after), and due dates spread over ten years. At the chosen moment
everything earlier is sent or paid except the same 100 reminders and 100 instalments, so
both sizes have the same work to find among very different amounts of history.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from bot.store import Store

START = date(2027, 1, 1)
NOW = datetime(2031, 6, 15, 2, 30, tzinfo=UTC)  # mid-range, between daily send times
DUE = 100  # reminders (and unpaid instalments past grace) due at NOW, whatever the size


def build(path: Path, instalments: int) -> Store:
    store = Store(path)
    db = store.db
    stamp = "2026-11-28T00:00:00.000000+00:00"
    with store.transaction():
        db.execute(
            "INSERT INTO borrowers (id, name, phone, id_last4, created_at)"
            " VALUES (1, 'B', '+8613800000000', '1234', ?)",
            (stamp,),
        )
        db.execute(
            "INSERT INTO loans VALUES ('L', 1, 'credit_card', 'CNY', '1', '1', '0', '0', '0.1', '1', 12, 0,"
            " '2027-01-01', 0, NULL, ?, ?)",
            (stamp, stamp),
        )
        plans = range(1, (instalments + 11) // 12 + 1)
        db.conn.executemany(
            "INSERT INTO plans (id, loan_id, borrower_id, option_id, structure, currency, payments, first_due_date,"
            " monthly_min, monthly_max, total_repayable, apr, accepted_at, terms, consent_text, consent_sha256,"
            " consent_update_id) VALUES (?, 'L', 1, 'level-12', 'level', 'CNY', 12, '2027-01-01', '1', '1', '12',"
            " '0.1', ?, '{}', 't', 'h', ?)",
            ((p, stamp, p) for p in plans),
        )
        rows, reminders = [], []
        span = 3650
        for n in range(instalments):
            plan, number = n // 12 + 1, n % 12 + 1
            due = START + timedelta(days=(n * 7919) % span)
            rows.append((plan, number, due.isoformat()))
            for kind, offset in (("before:3", -3), ("before:0", 0), ("after:1", 1)):
                send = datetime.combine(due + timedelta(days=offset), datetime.min.time(), UTC) + timedelta(hours=2)
                reminders.append((plan, number, kind, send.isoformat(timespec="microseconds"), stamp))
        db.conn.executemany(
            "INSERT INTO installments (plan_id, number, due_date, amount, principal, interest, fees)"
            " VALUES (?, ?, ?, '1', '1', '0', '0')",
            rows,
        )
        db.conn.executemany(
            "INSERT INTO reminders (plan_id, installment_number, borrower_id, kind, send_at,"
            " created_at) VALUES (?, ?, 1, ?, ?, ?)",
            reminders,
        )
        # What the dispatcher has already done: everything before NOW is sent or paid ...
        db.execute("UPDATE reminders SET status = 'sent' WHERE send_at < ?", (NOW.isoformat(timespec="microseconds"),))
        db.execute("UPDATE installments SET status = 'paid' WHERE due_date < ?", (NOW.date().isoformat(),))
        # ... except the same DUE reminders and instalments at every size: the work to find.
        db.execute(
            "UPDATE reminders SET status = 'pending', send_at = ? WHERE id IN"
            " (SELECT id FROM reminders WHERE status = 'sent' LIMIT ?)",
            ((NOW - timedelta(minutes=30)).isoformat(timespec="microseconds"), DUE),
        )
        db.execute(
            "UPDATE installments SET status = 'due' WHERE rowid IN"
            " (SELECT rowid FROM installments WHERE status = 'paid' AND due_date < ? LIMIT ?)",
            ((NOW.date() - timedelta(days=10)).isoformat(), DUE),
        )
    db.execute("ANALYZE")
    return store


def timed(call, repeat: int = 200) -> float:
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        call()
        samples.append(time.perf_counter() - began)
    return statistics.median(samples)


def measure(instalments: int) -> tuple[float, float, int, int]:
    with tempfile.TemporaryDirectory() as folder:
        store = build(Path(folder) / "bench.db", instalments)
        due = len(store.due_reminders(NOW, 200))
        unpaid = len(store.instalments_unpaid_before(NOW.date()))
        select = timed(lambda: store.due_reminders(NOW, 200))
        misses = timed(lambda: store.instalments_unpaid_before(NOW.date()))
        store.close()
    return select, misses, due, unpaid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    args = parser.parse_args()
    results = {}
    for size in (args.small, args.large):
        results[size] = measure(size)
        select, misses, due, unpaid = results[size]
        print(
            f"{size:>9,} instalments: due reminders {select * 1e3:.3f} ms ({due} due), "
            f"unpaid past grace {misses * 1e3:.3f} ms ({unpaid} rows)"
        )
    small, large = results[args.small], results[args.large]
    print(
        f"ratio large/small: due reminders {large[0] / small[0]:.2f}x, unpaid instalments {large[1] / small[1]:.2f}x"
        " (goal <= 1.5x)"
    )


if __name__ == "__main__":
    main()
