"""What per-agent token caps add to a reply, and whether they hold, on a real PostgreSQL.

Starts the embedded database in a temporary folder, migrates it, creates `--agents` agents and
runs three scenarios through exactly what a reply does with caps on (`llm_usage.token_gate`:
read the agent's settings and reserve before the model, settle after; one round trip each) on
the pool the server gives them (`agent_server.token_pool`; `--plain-pool` for asyncpg's defaults:
reset query, synchronous commit); with caps off a reply does none of it, so the time measured
here is what caps add. Each scenario also reports CPU milliseconds per reserve+settle, this
process's and the database's (its server processes, from /proc), which depend little on what
else the machine runs:

- `paced`: `--rate` replies a second spread over every agent for `--duration` seconds; the
  latency of admit and of settle per reply (p50/p99 of their sum).
- `hot`: one agent, `--concurrency` replies in flight for `--duration` seconds: reserve+settle a second.
- `race`: `--race` replies spread over the agents, each agent's day limit room for 10 of them,
  `--concurrency` in flight; afterwards every day and month row must have used <= its limit and
  nothing reserved.

    .venv/bin/python bench/token_caps.py --duration 5 --race 10000
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_server import agents, tenants  # noqa: E402
from agent_server.embedded_db import start_embedded  # noqa: E402
from agent_server.migrations import migrate  # noqa: E402
from agent_server.token_pool import open_pool  # noqa: E402
from llm_usage import token_settings  # noqa: E402
from llm_usage.token_caps import TokenLimitReached  # noqa: E402
from llm_usage.token_gate import TokenGate  # noqa: E402
from storage.pool import init_connection  # noqa: E402

# A typical first widget question: system prompt, rules, FAQ and the question (about 1,500 characters).
MESSAGES = [{"role": "system", "content": "x" * 1400}, {"role": "user", "content": "When are you open today?"}]


async def reply(pool: asyncpg.Pool, agent_id: uuid.UUID) -> tuple[float, float, bool]:
    """One reply's cap work: (admit seconds, settle seconds, admitted)."""
    gate = TokenGate(pool, agent_id)
    started = time.perf_counter()
    try:
        await gate.admit(MESSAGES)
    except TokenLimitReached:
        return time.perf_counter() - started, 0.0, False
    admitted = time.perf_counter()
    assert gate.grant is not None
    await gate.settle(gate.grant.need)
    return admitted - started, time.perf_counter() - admitted, True


class CpuMeter:
    """CPU seconds spent by this process and by the database server's processes since `start`."""

    def __init__(self, postmaster: int) -> None:
        self._postmaster = postmaster
        self._tick = os.sysconf("SC_CLK_TCK")
        self._client = self._server = 0.0

    def _server_now(self) -> float:
        ticks = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # a process that just ended
            if int(entry) == self._postmaster or int(fields[1]) == self._postmaster:
                ticks += int(fields[11]) + int(fields[12])  # utime + stime
        return ticks / self._tick

    def start(self) -> None:
        self._client, self._server = time.process_time(), self._server_now()

    def per_op_ms(self, ops: int) -> str:
        client = (time.process_time() - self._client) * 1000 / max(1, ops)
        server = (self._server_now() - self._server) * 1000 / max(1, ops)
        return f"CPU {client + server:.2f} ms per reserve+settle (bench {client:.2f}, database {server:.2f})"


async def postmaster_of(pool: asyncpg.Pool) -> int:
    backend: int = await pool.fetchval("SELECT pg_backend_pid()")
    with open(f"/proc/{backend}/stat") as stat:
        return int(stat.read().rsplit(")", 1)[1].split()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def paced(pool: asyncpg.Pool, ids: list[uuid.UUID], rate: float, duration: float, cpu: CpuMeter,
                label: str = "paced") -> None:
    tasks: list[asyncio.Task[tuple[float, float, bool]]] = []
    cpu.start()
    start = time.perf_counter()
    for n in range(int(rate * duration)):
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        tasks.append(asyncio.create_task(reply(pool, ids[n % len(ids)])))
    results = await asyncio.gather(*tasks)
    added = [(a + s) * 1000 for a, s, _ in results]
    print(f"{label}: {len(results)} replies at {rate:.0f}/s over {len(ids)} agents: added p50"
          f" {statistics.median(added):.2f} ms, p99 {percentile(added, 0.99):.2f} ms, max {max(added):.2f} ms;"
          f" {cpu.per_op_ms(len(results))}")


async def hot(pool: asyncpg.Pool, agent_id: uuid.UUID, concurrency: int, duration: float, cpu: CpuMeter) -> None:
    done = 0
    deadline = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await reply(pool, agent_id)
            done += 1  # after the await: no update lost
    cpu.start()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    print(f"hot: one agent, {concurrency} in flight: {done / elapsed:.0f} reserve+settle/s ({done} in {elapsed:.1f} s);"
          f" {cpu.per_op_ms(done)}")


async def race(pool: asyncpg.Pool, ids: list[uuid.UUID], total: int, concurrency: int) -> None:
    need = -(-sum(len(m["content"]) for m in MESSAGES) // 3) + 1000
    for agent_id in ids:
        await token_settings.update(pool, agent_id, {"daily_limit": need * 10, "monthly_limit": None})
    queue = iter(range(total))
    served = 0

    async def worker() -> None:
        nonlocal served
        for n in queue:
            admitted = (await reply(pool, ids[n % len(ids)]))[2]
            served += admitted
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    over = await pool.fetchval("SELECT count(*) FROM token_budgets WHERE token_limit IS NOT NULL AND used > token_limit")
    reserved = await pool.fetchval("SELECT coalesce(sum(reserved), 0) FROM token_budgets")
    print(f"race: {total} replies over {len(ids)} agents in {time.perf_counter() - started:.1f} s: {served} served"
          f" (room for {10 * len(ids)}), {over} periods over,"
          f" {reserved} tokens left reserved")


async def main(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-token-caps-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    dsn = start_embedded(scratch / "data")
    await migrate(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=4, max_size=args.concurrency + 4, init=init_connection)
    assert pool is not None
    caps = pool if args.plain_pool else await open_pool(dsn)
    cpu = CpuMeter(await postmaster_of(pool))
    business = await tenants.create_business(pool, "Bench")
    ids = [await agents.create_agent(pool, business, f"Agent {n}") for n in range(args.agents)]
    for agent_id in ids:
        await token_settings.update(pool, agent_id, {"daily_limit": None, "monthly_limit": None})
    try:
        # Every agent's rows exist and every connection has its plans cached before anything is measured.
        await paced(caps, ids, args.rate, 1.0, cpu, "warm-up (not a result)")
        await paced(caps, ids, args.rate, args.duration, cpu)
        await hot(caps, ids[0], args.concurrency, args.duration, cpu)
        fresh = [await agents.create_agent(pool, business, f"Racer {n}") for n in range(args.agents)]
        await race(caps, fresh, args.race, args.concurrency)
    finally:
        if caps is not pool:
            await caps.close()
        await pool.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--race", type=int, default=100_000)
    parser.add_argument("--plain-pool", action="store_true", help="asyncpg's default pool (reset, synchronous commit)")
    asyncio.run(main(parser.parse_args()))
