"""Throughput and latency of the shared abuse limits (`conversations.rate_limits.allow`) on a real PostgreSQL.

Starts the embedded database in a temporary folder, migrates it, then keeps `--concurrency`
checks in flight over a pool of as many connections for `--duration` seconds per scenario:
the same kind of pool the server uses for limit checks (`agent_server.message_limits.open_pool`):
`spread` draws each key from `--keys` distinct keys (many visitors), `hot` sends every check
to one key (one client hammering, so every check waits on the same row lock). Each check is
timed on its own. The CPU the checks cost is this process's CPU plus the database's (every
process under the postmaster), so "per core" is checks per CPU-second spent on both sides.

    .venv/bin/python bench/limits.py --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import dataclasses
import os
import random
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_server.embedded_db import start_embedded  # noqa: E402
from agent_server.message_limits import open_pool  # noqa: E402
from agent_server.migrations import migrate  # noqa: E402
from conversations import rate_limits  # noqa: E402
from conversations.gcra import Limit  # noqa: E402
from conversations.rate_limits import Scope  # noqa: E402

# The widget's default per-IP limit ([messaging] ip_messages_per_minute, ip_burst).
LIMIT = Limit(per_minute=30.0, burst=10)


@dataclasses.dataclass(frozen=True)
class Figures:
    """One scenario's result."""

    checks: int
    admitted: int
    wall_seconds: float
    client_cpu_seconds: float
    database_cpu_seconds: float
    latencies: list[float]

    @property
    def per_second(self) -> float:
        return self.checks / self.wall_seconds

    @property
    def per_core(self) -> float:
        """Checks per CPU-second, client and database together."""
        return self.checks / (self.client_cpu_seconds + self.database_cpu_seconds)

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))]


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (the postmaster forks one backend per connection)."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        for child in children.read_text().split():
            pids.extend(process_tree(int(child)))
    return pids


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """User + system CPU of one process so far (``/proc/PID/stat``, in clock ticks).

    With `reaped_children`, also the CPU of its children that have exited and been waited
    for (cutime + cstime), so a backend that ends during the run still counts.
    """
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def database_cpu(postmaster: int) -> float:
    """CPU seconds used so far by the database: the postmaster, its live backends and the ended ones."""
    total = cpu_seconds(postmaster, reaped_children=True)
    for pid in process_tree(postmaster)[1:]:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):
            total += cpu_seconds(pid)
    return total


async def load(pool: asyncpg.Pool, key: Callable[[], str], concurrency: int, duration: float,
               postmaster: int) -> Figures:
    """Closed loop: each of `concurrency` tasks sends its next check when the previous one is answered."""
    latencies: list[float] = []
    admitted = 0
    client_before, database_before = time.process_time(), database_cpu(postmaster)
    started = time.perf_counter()
    deadline = started + duration

    async def worker() -> None:
        nonlocal admitted
        while time.perf_counter() < deadline:
            began = time.perf_counter()
            passed = await rate_limits.allow(pool, Scope.WIDGET_IP, key(), LIMIT)
            latencies.append(time.perf_counter() - began)
            admitted += passed

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    client, database = time.process_time() - client_before, database_cpu(postmaster) - database_before
    return Figures(len(latencies), admitted, wall, client, database, latencies)


def postmaster_of(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().split("\n", 1)[0])


async def run(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-limits-"))
    # Registered before the embedded server starts, so it runs after the server's own exit hook stops it.
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    dsn = start_embedded(scratch / "data")
    await migrate(dsn)
    postmaster = postmaster_of(scratch / "data")
    pool = await open_pool(dsn, size=args.concurrency)
    rng = random.Random(19)
    scenarios: dict[str, Callable[[], str]] = {
        "spread": lambda: f"visitor-{rng.randrange(args.keys)}",
        "hot": lambda: "203.0.113.7",
    }
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"setup: embedded PostgreSQL, {args.concurrency} checks in flight over {args.concurrency} connections, "
          f"limit {LIMIT.per_minute:g}/min burst {LIMIT.burst}, {os.cpu_count()} CPUs shared by the bench and "
          "the database")
    try:
        for name in args.scenarios:
            await load(pool, scenarios[name], args.concurrency, 1.0, postmaster)  # warm-up
            figures = await load(pool, scenarios[name], args.concurrency, args.duration, postmaster)
            print(f"{name}: {figures.per_second:.0f} checks/s, {figures.per_core:.0f} checks per CPU-second "
                  f"(bench {figures.client_cpu_seconds:.1f} s + database {figures.database_cpu_seconds:.1f} s), p50 {figures.percentile(0.50) * 1000:.2f} ms, "
                  f"p99 {figures.percentile(0.99) * 1000:.2f} ms, {figures.checks} checks, "
                  f"{figures.admitted} admitted")
        rows = await pool.fetchval("SELECT count(*) FROM rate_limits")
        began = time.perf_counter()
        forgotten = await rate_limits.forget_idle(pool)
        print(f"cleanup: {rows} rows, {forgotten} idle deleted in {(time.perf_counter() - began) * 1000:.1f} ms")
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--concurrency", type=int, default=4, help="checks in flight (and pool connections)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per scenario")
    parser.add_argument("--keys", type=int, default=10_000, help="distinct keys in the spread scenario")
    parser.add_argument("--scenarios", nargs="+", choices=["spread", "hot"], default=["spread", "hot"])
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
