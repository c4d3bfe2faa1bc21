"""An agent's page time in the support console while other clients flood it with logins.

    python bench/console_login.py                        # 16 flooding threads, 15 s
    python bench/console_login.py --threads 4 --seconds 5
    python bench/console_login.py --one-address          # the flood from 127.0.0.1 only

What runs: `restructure-bot support` as its own process (uvicorn, real scrypt cost) on a fresh
database with one agent, created with `support-user add`. The agent signs in and then asks
for the search page (``/``) every 50 ms: first with nothing else going on, then while N threads
post logins under random names with wrong passwords, each thread waiting for the answer
before posting again (a closed loop, like a script). By default every flooding login comes
from a new loopback address (127.x.y.z, as a botnet would), so the per-address throttle does
not stop them and each one costs a password check; ``--one-address`` floods from 127.0.0.1,
which the per-address throttle refuses after 20 failures.

Only the CLI and HTTP are used, so the same script measures an older checkout too:
``PYTHONPATH=/path/to/old/checkout python bench/console_login.py``.

Printed: the agent's page time (p50, p95, max) idle and under the flood, the login answers by
HTTP status, and the login rate. Issue 12 measured 2 ms idle and 1.1 s under 16 threads.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx

PASSWORD = "correct horse battery"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_console(workdir: Path) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(BOT_DATABASE=str(workdir / "bot.db"), BOT_DEFAULT_LOCALE="en", NO_PROXY="127.0.0.0/8,localhost")
    subprocess.run(
        [sys.executable, "-m", "bot", "support-user", "add", "alice", "--password-stdin"],
        input=PASSWORD + "\n",
        text=True,
        env=env,
        cwd=workdir,
        check=True,
        capture_output=True,
    )
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "support", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(url + "/login", timeout=2)
            return process, url
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the console did not start") from None
            time.sleep(0.1)


def login(client: httpx.Client, name: str, password: str) -> int:
    form = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    return client.post("/login", data={"csrf": csrf, "name": name, "password": password, "next": "/"}).status_code


def page_times(agent: httpx.Client, stop: threading.Event, seconds: float) -> list[float]:
    times = []
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stop.is_set():
        started = time.perf_counter()
        response = agent.get("/")
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
        time.sleep(0.05)
    return times


def flood(
    url: str, thread: int, stop: threading.Event, statuses: Counter, lock: threading.Lock, one_address: bool
) -> None:
    addresses = (f"127.{thread + 1}.{n // 250 % 250}.{n % 250 + 1}" for n in itertools.count())
    shared = httpx.Client(base_url=url, follow_redirects=False, timeout=60)
    while not stop.is_set():
        client = (
            shared
            if one_address
            else httpx.Client(
                base_url=url,
                follow_redirects=False,
                timeout=60,
                transport=httpx.HTTPTransport(local_address=next(addresses)),
            )
        )
        try:
            status = login(client, f"user{random.randrange(10**9)}", "wrong password")
        except httpx.HTTPError as error:
            status = type(error).__name__
        finally:
            if client is not shared:
                client.close()
        with lock:
            statuses[status] += 1


def summary(times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    return f"p50 {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms   max {ms[-1]:7.1f} ms   (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--one-address", action="store_true", help="flood from 127.0.0.1 only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        process, url = start_console(Path(tmp))
        try:
            agent = httpx.Client(base_url=url, follow_redirects=False, timeout=120)
            assert login(agent, "alice", PASSWORD) == 303, "the agent could not sign in"
            stop = threading.Event()
            idle = page_times(agent, stop, min(5.0, args.seconds))
            statuses: Counter = Counter()
            lock = threading.Lock()
            threads = [
                threading.Thread(target=flood, args=(url, i, stop, statuses, lock, args.one_address))
                for i in range(args.threads)
            ]
            started = time.monotonic()
            for thread in threads:
                thread.start()
            time.sleep(1)  # let the flood build up
            busy = page_times(agent, stop, args.seconds)
            stop.set()
            for thread in threads:
                thread.join(120)
            elapsed = time.monotonic() - started
        finally:
            process.terminate()
            process.wait(20)
    print(f"support console at {url}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min) at the end")
    print(f"agent's page, idle:                    {summary(idle)}")
    print(f"agent's page, {args.threads:2d} threads posting logins: {summary(busy)}")
    source = "127.0.0.1" if args.one_address else "a new loopback address each"
    answers = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items(), key=str))
    print(f"logins answered ({source}): {answers}; {sum(statuses.values()) / elapsed:.1f} per second")


if __name__ == "__main__":
    main()
