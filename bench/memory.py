"""Memory of the running bot against the number of stored conversations: resident set size of
a fresh process running the real Application over a database of 1,000 and one of 100,000
stored conversations, after the same workload. State lives in SQLite, not in RAM, so the
larger should stay within 10% of the smaller (issue 6).

    python bench/memory.py                          # 1,000 and 100,000 conversations
    python bench/memory.py --small 1000 --large 20000 --updates 500   # quicker

How the databases are made (in this process, before anything is measured)
-----------------------------------------------------------------------------
Every conversation belongs to its own generated borrower and loan
(`Store.upsert_borrower_and_loan`, the generator of bench/throughput.py, seeded). Each
conversation is stopped at a depth from 1 to 21 updates along the borrower's path (uniform;
21 is a plan agreed, with its instalments and reminders).

* The first `--templates` (default 1,000) conversations are real: driven turn by turn
  through `Conversations.handle` (the same turn the Application runs, without Telegram),
  their replies marked sent.
* The others are bulk copies of those, made much faster than 100,000 real conversations
  (about 40 ms each on a 2-core machine, over an hour): conversation n copies template
  t = n mod templates. Borrower n has template t's loan terms and gives t's answers, with
  their own chat, phone and loan number. The conversation row is written with
  `Store.save_conversation` (its state rewritten to borrower n's ids and loan number), the
  borrower's Telegram link with an UPDATE, and the history rows (message log, audit,
  identification attempts, plan, instalments, reminders) with `executemany` on the store's
  connection, ids remapped. So the large database holds 100x the rows of the small one, of
  the same shapes and sizes, and every copy can be carried on to an agreed plan exactly as
  its template could.
  The build runs with `PRAGMA synchronous = OFF` (build only; the measured process opens
  the store as the bot does).

What is measured (in a fresh process per database: `--measure`)
----------------------------------------------------------------
The process opens the store, builds the Application exactly as `restructure-bot run`
does (`build_application`, over the in-process fake Bot API of bench/throughput.py),
initializes it, then feeds `--updates` updates (default 1,000) through
`Application.process_update`, one to each of that many conversations picked at random
(seeded): the next update of that borrower's path (a press uses the menu and buttons saved
in the conversation's state; a finished conversation gets /plan). Figures: VmRSS after
start-up, VmRSS after the workload (after a gc.collect()), and the peak (VmHWM), from
/proc/self/status. The comparison is of RSS after the workload.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
import throughput as tp  # noqa: E402  (puts the project root and tests/ on sys.path)
from telegram import Update  # noqa: E402

from bot.i18n import Translator  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.tg.app import build_application  # noqa: E402
from bot.turn import Conversations  # noqa: E402
from dialogs.model import Event  # noqa: E402
from fakebot import TOKEN, make_callback_update, make_command_update, make_text_update  # noqa: E402
from plans.policy import default_policy  # noqa: E402

SEED = tp.SEED
STEPS = len(tp.SCRIPT_KINDS)  # 21: the whole path to an agreed plan
STRIDE = 10_000_000  # update ids of copy n are the template's + n * STRIDE (templates use < STRIDE)
WORKLOAD_UPDATE_IDS = 10**15  # the workload's update ids start here


def depth(n: int, seed: int) -> int:
    """How many updates of its path conversation n has had (1..STEPS), the same in every run."""
    return random.Random(f"{seed}:{n}").randint(1, STEPS)


def person(n: int, templates: int, seed: int) -> tuple[tp.Borrower, dict]:
    """Borrower n, their loan row and path: those of template n mod `templates` (same loan
    terms, same answers, same choices), with n's own chat, phone and loan number."""
    template = n % templates
    borrower, row = tp.make_borrower(template, seed)
    if template == n:
        return borrower, row
    loan_id = f"BENCH-{n:07d}"
    row = {**row, "loan_id": loan_id, "phone": f"+86139{n:08d}", "borrower_name": f"Borrower {n}"}
    script = [("text", loan_id) if step == ("text", borrower.loan_id) else step for step in borrower.script]
    return tp.Borrower(n, loan_id, borrower.id_last4, borrower.language, script, borrower.rng), row


def proc_status() -> dict[str, int]:
    """VmRSS and VmHWM in KiB (Linux)."""
    found = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0])
    return found


# ---------------------------------------------------------------------- building a database


def _event(borrower: tp.Borrower, step: tuple[str, str], buttons: list[str], update_id: int) -> Event | None:
    kind, value = step
    common = {
        "chat_id": borrower.chat_id,
        "user_id": borrower.chat_id,
        "update_id": update_id,
        "language_code": borrower.language,
    }
    if kind == "command":
        return Event("command", text=f"/{value}", **common)
    if kind == "text":
        return Event("text", text=value, **common)
    found = [data for data in buttons if data.partition(":")[2].startswith(value)]
    return Event("button", text=borrower.rng.choice(found), **common) if found else None


def drive_template(conversations: Conversations, borrower: tp.Borrower, steps: int, ids) -> None:
    buttons: list[str] = []
    for step in borrower.script[:steps]:
        event = _event(borrower, step, buttons, next(ids))
        if event is None:
            raise RuntimeError(f"template {borrower.n}: no {step[1]!r} button")
        messages = conversations.handle(event)
        for message in messages:
            conversations.mark_sent(message)
        shown = [m for m in messages if m.buttons]
        if shown:
            buttons = [data for row in shown[-1].buttons for _, data in row]


def _columns(store: Store, table: str) -> list[str]:
    return [row[1] for row in store.db.execute(f"PRAGMA table_info({table})")]


class Copier:
    """Copies a template conversation's rows to another borrower (ids remapped)."""

    HISTORY = {"messages": "chat_id", "audit": "chat_id", "identification_attempts": "chat_id"}

    def __init__(self, store: Store, templates: int, seed: int) -> None:
        self.store, self.seed = store, seed
        db = store.db
        self.borrower_of = dict(db.execute("SELECT loan_id, borrower_id FROM loans").fetchall())
        self.columns = {
            t: [c for c in _columns(store, t) if c != "id"]
            for t in ("messages", "audit", "identification_attempts", "plans", "installments", "reminders")
        }
        self.rows: dict[str, list[tuple]] = {table: [] for table in self.columns}
        self.templates = {}
        for n in range(templates):
            chat = tp.CHAT_BASE + n
            loan = tp.make_borrower(n, seed)[0].loan_id
            borrower_id = self.borrower_of[loan]
            record = {
                "chat": chat,
                "loan": loan,
                "borrower_id": borrower_id,
                "conversation": store.load_conversation(chat),
                "binding": db.execute(
                    "SELECT telegram_user_id, telegram_chat_id, locale FROM borrowers WHERE id = ?", (borrower_id,)
                ).fetchone(),
            }
            for table, key in self.HISTORY.items():
                record[table] = db.execute(
                    f"SELECT {', '.join(self.columns[table])} FROM {table} WHERE {key} = ? ORDER BY id", (chat,)
                ).fetchall()
            plans = db.execute(
                f"SELECT id, {', '.join(self.columns['plans'])} FROM plans WHERE borrower_id = ? ORDER BY id",
                (borrower_id,),
            ).fetchall()
            record["plans"] = [
                (
                    plan[0],
                    plan[1:],
                    db.execute(
                        f"SELECT {', '.join(self.columns['installments'])} FROM installments WHERE plan_id = ?",
                        (plan[0],),
                    ).fetchall(),
                    db.execute(
                        f"SELECT {', '.join(self.columns['reminders'])} FROM reminders WHERE plan_id = ?", (plan[0],)
                    ).fetchall(),
                )
                for plan in plans
            ]
            self.templates[n] = record
        self.next_plan = (db.execute("SELECT max(id) FROM plans").fetchone()[0] or 0) + 1

    def copy(self, n: int, template: int) -> None:
        source = self.templates[template]
        chat, loan = tp.CHAT_BASE + n, f"BENCH-{n:07d}"
        borrower_id = self.borrower_of[loan]
        offset = n * STRIDE

        def remap(table: str, row: tuple, extra: dict[str, object] | None = None) -> tuple:
            values = dict(zip(self.columns[table], row, strict=True))
            for key, new in (
                ("chat_id", chat),
                ("borrower_id", borrower_id),
                ("loan_id", loan),
                ("consent_user_id", chat),
            ):
                if values.get(key) is not None:
                    values[key] = new
            for key in ("update_id", "in_reply_to", "consent_update_id"):
                if values.get(key) is not None:
                    values[key] += offset
            if isinstance(values.get("text"), str):
                values["text"] = values["text"].replace(source["loan"], loan)
            values.update(extra or {})
            return tuple(values[c] for c in self.columns[table])

        plan_ids = {}
        for old_id, plan, installments, reminders in source["plans"]:
            new_id = plan_ids[old_id] = self.next_plan
            self.next_plan += 1
            self.rows["plans"].append((new_id, *remap("plans", plan)))
            self.rows["installments"] += [remap("installments", row, {"plan_id": new_id}) for row in installments]
            self.rows["reminders"] += [remap("reminders", row, {"plan_id": new_id}) for row in reminders]
        for table in self.HISTORY:
            self.rows[table] += [remap(table, row) for row in source[table]]
        saved = source["conversation"]
        if saved is not None:
            data = json.loads(json.dumps(saved["data"]).replace(source["loan"], loan))
            if data.get("borrower_id") is not None:
                data["borrower_id"] = borrower_id
            if data.get("plan_id") is not None:
                data["plan_id"] = plan_ids.get(data["plan_id"], data["plan_id"])
            self.store.save_conversation(
                chat,
                step=saved["step"],
                data=data,
                version=0,
                locale=saved["locale"],
                borrower_id=borrower_id if saved["borrower_id"] is not None else None,
                loan_id=loan if saved["loan_id"] is not None else None,
                telegram_user_id=chat if saved["telegram_user_id"] is not None else None,
                needs_person=saved["needs_person"],
            )
        user_id, chat_id, locale = source["binding"]
        if user_id is not None:
            self.store.db.execute(
                "UPDATE borrowers SET telegram_user_id = ?, telegram_chat_id = ?, locale = ? WHERE id = ?",
                (chat, chat, locale, borrower_id),
            )

    def flush(self) -> None:
        conn = self.store.db.conn
        plan_columns = ["id", *self.columns["plans"]]
        for table in ("plans", "installments", "reminders", "messages", "audit", "identification_attempts"):
            columns = plan_columns if table == "plans" else self.columns[table]
            if self.rows[table]:
                conn.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                    self.rows[table],
                )
            self.rows[table] = []


def build(path: Path, conversations: int, templates: int, seed: int) -> dict:
    """A database of `conversations` stored conversations (see the module docstring)."""
    began = time.perf_counter()
    templates = min(templates, conversations)
    store = Store(path, clock=tp.clock)
    store.db.execute("PRAGMA synchronous = OFF")  # the build only; the measured process opens it afresh
    with store.transaction():
        for n in range(conversations):
            store.upsert_borrower_and_loan(person(n, templates, seed)[1])
    talk = Conversations(store, default_policy(), Translator(), tp.clock, "zh_CN")
    ids = iter(range(1, STRIDE))
    for first in range(0, templates, 100):
        with store.transaction():
            for n in range(first, min(first + 100, templates)):
                drive_template(talk, tp.make_borrower(n, seed)[0], depth(n, seed), ids)
    copier = Copier(store, templates, seed)
    for first in range(templates, conversations, 5000):
        with store.transaction():
            for n in range(first, min(first + 5000, conversations)):
                copier.copy(n, n % templates)
            copier.flush()
    counts = {
        table: store.db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        for table in ("conversations", "messages", "plans", "installments", "reminders", "audit")
    }
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    counts["bytes"] = path.stat().st_size
    counts["seconds"] = time.perf_counter() - began
    return counts


# ---------------------------------------------------------------------- measuring (fresh process)


def workload_update(store: Store, n: int, templates: int, seed: int, update_id: int) -> tuple[dict, bool]:
    """The next update of conversation n's path; (update, whether it follows the path)."""
    borrower = person(n, templates, seed)[0]
    done = depth(n % templates, seed)  # a copy is as far along as its template
    chat = borrower.chat_id
    if done >= STEPS:
        return make_command_update(update_id, chat, chat, "plan", language_code=borrower.language), True
    kind, value = borrower.script[done]
    if kind == "command":
        return make_command_update(update_id, chat, chat, value, language_code=borrower.language), True
    if kind == "text":
        return make_text_update(update_id, chat, chat, value, language_code=borrower.language), True
    saved = store.load_conversation(chat)
    state = saved["data"] if saved else {}
    found = [p for p in state.get("offered", []) if p.startswith(value)]
    if not found:
        return make_text_update(update_id, chat, chat, "?", language_code=borrower.language), False
    return make_callback_update(
        update_id,
        chat,
        chat,
        f"{state['menu']}:{borrower.rng.choice(found)}",
        message_id=1,
        language_code=borrower.language,
    ), True


class QuietFake(tp.BenchFake):
    """The fake Bot API keeping nothing per chat (bench/throughput.py's keeps each chat's last
    message and keyboard, which would count in this process's RSS)."""

    def handle(self, method: str, params: dict) -> tuple[int, dict]:
        answer = super().handle(method, params)
        self.keyboards.clear()
        self._messages.clear()
        self._latest.clear()
        return answer


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record.getMessage())


async def measure_async(path: Path, conversations: int, templates: int, updates: int, seed: int) -> dict:
    status = {"start": proc_status()}
    errors = _Count()
    logging.getLogger().addHandler(errors)
    store = Store(path)
    talk = Conversations(store, default_policy(), Translator(), tp.clock, "zh_CN")
    fake = QuietFake()
    app = build_application(
        talk, token=TOKEN, base_url=tp.BASE_URL, base_file_url=tp.BASE_FILE_URL, request=fake, rate_limit=False
    )
    await app.initialize()
    gc.collect()
    status["ready"] = proc_status()
    rng = random.Random(seed)
    chosen = rng.sample(range(conversations), min(updates, conversations))
    chosen += [rng.randrange(conversations) for _ in range(updates - len(chosen))]
    off_path = 0
    began = time.perf_counter()
    for i, n in enumerate(chosen):
        data, on_path = workload_update(store, n, min(templates, conversations), seed, WORKLOAD_UPDATE_IDS + i)
        off_path += not on_path
        await app.process_update(Update.de_json(data, app.bot))
    seconds = time.perf_counter() - began
    gc.collect()
    status["after"] = proc_status()
    await app.shutdown()
    store.close()
    return {
        "rss_start_kib": status["start"]["VmRSS"],
        "rss_ready_kib": status["ready"]["VmRSS"],
        "rss_after_kib": status["after"]["VmRSS"],
        "hwm_kib": status["after"]["VmHWM"],
        "updates": updates,
        "off_path": off_path,
        "seconds": seconds,
        "bot_api_failures": len(fake.failures),
        "bot_api_calls": fake.count,
        "errors": errors.records[:5],
        "error_count": len(errors.records),
        "ptb_chat_data": len(app.chat_data),
        "ptb_user_data": len(app.user_data),
    }


def measure_in_fresh_process(path: Path, conversations: int, templates: int, updates: int, seed: int) -> dict:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--measure",
        str(path),
        "--conversations",
        str(conversations),
        "--templates",
        str(templates),
        "--updates",
        str(updates),
        "--seed",
        str(seed),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {path} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def growth(args: argparse.Namespace, sizes: list[int]) -> dict:
    results = {}
    with tempfile.TemporaryDirectory(dir=args.db_dir) as folder:
        built, copy = Path(folder) / "memory.db", Path(folder) / "copy.db"
        made = build(built, args.large, args.templates, args.seed)
        print(f"{args.large:,} stored conversations ({made['bytes'] / 2**20:,.1f} MiB database)")
        for updates in sizes:
            shutil.copyfile(built, copy)
            measured = results[updates] = measure_in_fresh_process(copy, args.large, args.templates, updates, args.seed)
            print(
                f"  {updates:>7,} updates: RSS {measured['rss_after_kib'] / 1024:.1f} MiB after"
                f" (ready {measured['rss_ready_kib'] / 1024:.1f}, peak {measured['hwm_kib'] / 1024:.1f});"
                f" {measured['off_path']} off the path, {measured['error_count']} errors logged"
            )
    return results


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--updates", type=int, default=1_000, help="workload size (default 1,000)")
    parser.add_argument("--templates", type=int, default=1_000, help="conversations driven for real (default 1,000)")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--db-dir", default=None, help="where the temporary databases go")
    parser.add_argument(
        "--growth",
        metavar="N,N,...",
        help="instead: RSS after each of these workload sizes, each on a fresh copy of one"
        " database of --large conversations (does memory grow with the updates handled?)",
    )
    parser.add_argument("--measure", metavar="DB", help=argparse.SUPPRESS)  # the fresh process
    parser.add_argument("--conversations", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.measure:
        result = asyncio.run(
            measure_async(Path(args.measure), args.conversations, args.templates, args.updates, args.seed)
        )
        print(json.dumps(result))
        return result
    print(f"machine: {tp.machine()}")
    if args.growth:
        return growth(args, [int(n) for n in args.growth.split(",")])
    results = {}
    with tempfile.TemporaryDirectory(dir=args.db_dir) as folder:
        for size in (args.small, args.large):
            path = Path(folder) / f"memory-{size}.db"
            made = build(path, size, args.templates, args.seed)
            measured = measure_in_fresh_process(path, size, args.templates, args.updates, args.seed)
            results[size] = {**made, **measured}
            print(
                f"{size:>9,} stored conversations ({made['messages']:,} messages, {made['plans']:,} plans,"
                f" {made['reminders']:,} reminders; {made['bytes'] / 2**20:,.1f} MiB database, built in"
                f" {made['seconds']:.0f} s)"
            )
            print(
                f"          RSS {measured['rss_ready_kib'] / 1024:.1f} MiB ready,"
                f" {measured['rss_after_kib'] / 1024:.1f}"
                f" MiB after {measured['updates']:,} updates ({measured['seconds']:.1f} s,"
                f" {measured['bot_api_calls']:,} Bot API calls, {measured['off_path']} off the path,"
                f" {measured['bot_api_failures']} Bot API failures, {measured['error_count']} errors logged);"
                f" peak {measured['hwm_kib'] / 1024:.1f} MiB"
            )
            for error in measured["errors"]:
                print(f"          error: {error}")
            path.unlink()
    small, large = results[args.small], results[args.large]
    ratio = large["rss_after_kib"] / small["rss_after_kib"]
    print(
        f"RSS after the workload, {args.large:,} vs {args.small:,} conversations: "
        f"{large['rss_after_kib'] / 1024:.1f} / {small['rss_after_kib'] / 1024:.1f} MiB = {ratio:.3f}"
        f" (goal <= 1.10: {'met' if ratio <= 1.10 else 'MISSED'});"
        f" peak ratio {large['hwm_kib'] / small['hwm_kib']:.3f}"
    )
    return {"results": results, "ratio": ratio}


if __name__ == "__main__":
    main()
