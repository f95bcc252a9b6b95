"""Latency of an answer-cache hit through `POST /api/widget/{id}/message`, against a running `agent-server serve`.

Starts the embedded database in a temporary folder, seeds a business with a funded wallet
and one agent, starts `agent-server serve` as its own process (no LLM key: the local
responder writes the first answer; the visitor IP limit raised so one client may send
thousands of messages) and asks the same question as the first message of `--requests` new
conversations, one at a time over one keep-alive connection (a light client: aiohttp, no
other work). The first request is the miss that fills the cache; every later response must
say `answeredBy: cache`. Each hit is a whole first turn: the agent looked up, the origin
and rate limits checked, the conversation and its `conversation_started` notice stored, the
visitor's message and the answer stored, the hit counted.

Reports p50/p99/max, requests/s, the server's and the database's CPU time per request, and
the load average.

    .venv/bin/python bench/answer_cache_hits.py --requests 2000
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from served import cpu_seconds, database_cpu_seconds, load_average, percentile, seed, serving

from agent_server.embedded_db import start_embedded

QUESTION = "Do you repair electric bikes?"
LIMITS = {"ip_messages_per_minute": "1000000.0", "ip_burst": "1000000"}


async def run(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-cache-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    dsn = start_embedded(scratch / "data")
    tenant = await seed(dsn)
    url_path = f"/api/widget/{tenant.agent_id}/message"
    async with serving(dsn, scratch, LIMITS) as (base, server):
        async with aiohttp.ClientSession(base, headers={"Origin": base},
                                         connector=aiohttp.TCPConnector(limit=1)) as session:
            async def ask() -> tuple[float, str]:
                started = time.perf_counter()
                async with session.post(url_path, json={"text": QUESTION}) as response:
                    body = await response.json()
                elapsed = (time.perf_counter() - started) * 1000
                if response.status != 200:
                    raise RuntimeError(f"{response.status}: {body}")
                return elapsed, body["answeredBy"]

            first = await ask()
            for _ in range(args.warmup):
                await ask()
            load_before = load_average()
            server_cpu, database_cpu = cpu_seconds(server.pid), database_cpu_seconds(scratch / "data")
            began = time.perf_counter()
            results = [await ask() for _ in range(args.requests)]
            wall = time.perf_counter() - began
            server_cpu = cpu_seconds(server.pid) - server_cpu
            database_cpu = database_cpu_seconds(scratch / "data") - database_cpu
    misses = sum(1 for _, answered_by in results if answered_by != "cache")
    times = sorted(elapsed for elapsed, _ in results)
    print(f"command: {shlex.join([sys.executable, *sys.argv])}")
    print(f"first request (the miss, local responder): {first[0]:.1f} ms, answeredBy {first[1]}")
    print(f"{args.requests} hits after {args.warmup} warm-up: p50 {statistics.median(times):.2f} ms,"
          f" p99 {percentile(times, 0.99):.2f} ms, max {times[-1]:.2f} ms; {args.requests / wall:.0f} req/s;"
          f" {misses} not from the cache")
    print(f"CPU per hit: server {server_cpu * 1000 / args.requests:.2f} ms,"
          f" database {database_cpu * 1000 / args.requests:.2f} ms;"
          f" load average {load_before} before, {load_average()} after")
    if misses:
        raise SystemExit("FAIL: some answers were not served from the cache")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=200)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
