"""Latency of `POST /api/forms/submit` (a 10-field form) at a steady rate, against a real server process.

Starts the embedded database in a temporary folder, migrates it, seeds a business, an agent and
a 10-field form with a notification email (so every submission also writes an outbox email and
its job, in the same transaction), starts `agent-server serve` as a separate process behind one
trusted proxy hop (`bench/served.py`'s `serving`; each request names its own client address in X-Forwarded-For, so the 10/min
per-IP limit is not what is measured), then sends `--rate` submissions a second for `--duration`
seconds, open loop (a request is sent on schedule whether or not earlier ones were answered),
and prints the latency percentiles of the 201s.

    .venv/bin/python bench/form_submit.py --rate 200 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime
import os
import shlex
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_server import agents, tenants  # noqa: E402
from agent_server.embedded_db import start_embedded  # noqa: E402
from agent_server.migrations import migrate  # noqa: E402
from automations import form_store  # noqa: E402
from automations.form_model import FormField, FormSpec, checked_spec  # noqa: E402
from bench.served import load_average, percentile, serving  # noqa: E402
from storage.pool import init_connection  # noqa: E402

FIELDS = [FormField(id="name", label="Name", type="text", required=True),
          FormField(id="email", label="Email", type="email", required=True),
          FormField(id="phone", label="Phone", type="phone"),
          FormField(id="guests", label="Guests", type="number", min=1, max=50),
          FormField(id="day", label="Day", type="date"),
          FormField(id="size", label="Size", type="select", options=["small", "medium", "large"]),
          FormField(id="flavour", label="Flavour", type="radio", options=["lemon", "chocolate"]),
          FormField(id="extras", label="Extras", type="checkbox", options=["candles", "card"]),
          FormField(id="notes", label="Notes", type="textarea"),
          FormField(id="agree", label="I agree", type="checkbox", required=True)]
ANSWERS = {"name": "Ann Lee", "email": "ann@example.com", "phone": "(415) 555-2671", "guests": 12,
           "day": "2027-03-14", "size": "large", "flavour": "lemon", "extras": ["card"],
           "notes": "Please write Happy Birthday on it.", "agree": True}


async def seed(dsn: str) -> uuid.UUID:
    await migrate(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, init=init_connection)
    assert pool is not None
    try:
        business = await tenants.create_business(pool, "Bench Bakery")
        agent = await agents.create_agent(pool, business, "Baker")
        spec = checked_spec(FormSpec(name="Cake order", fields=FIELDS, notification_email="orders@bakery.example"))
        form = await form_store.create(pool, business, agent, spec, now=datetime.datetime.now(datetime.UTC))
        return form.id
    finally:
        await pool.close()


async def load(base: str, form_id: uuid.UUID, rate: float, duration: float) -> tuple[list[float], dict[int, int]]:
    """Open loop: request i leaves at i / rate seconds; its latency is measured from when it left."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    body = {"formId": str(form_id), "submittedData": ANSWERS}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        async def one(i: int) -> None:
            headers = {"Origin": base, "X-Forwarded-For": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"}
            started = time.perf_counter()
            async with session.post(f"{base}/api/forms/submit", json=body, headers=headers) as response:
                await response.read()
            statuses[response.status] = statuses.get(response.status, 0) + 1
            if response.status == 201:
                latencies.append(time.perf_counter() - started)

        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * duration)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return latencies, statuses


async def run(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    dsn = start_embedded(scratch / "data")
    form_id = await seed(dsn)
    async with serving(dsn, scratch, {"forwarded_for_hops": "1"}) as (base, _):
        print(f"command: {shlex.join([sys.executable, *sys.argv])}")
        print(f"setup: 1 server process, embedded PostgreSQL, {os.cpu_count()} CPUs shared by load generator,"
              f" server and database (load average {load_average()}); each submission writes its row, an outbox"
              " email and the email's job")
        await load(base, form_id, args.rate, 1.0)  # warm-up
        latencies, statuses = await load(base, form_id, args.rate, args.duration)
        ordered = sorted(latencies)
        print(f"POST /api/forms/submit at {args.rate:.0f}/s for {args.duration:.0f} s: statuses {statuses}, "
              f"p50 {percentile(ordered, 0.50) * 1000:.1f} ms, p99 {percentile(ordered, 0.99) * 1000:.1f} ms, "
              f"max {ordered[-1] * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="submissions a second")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
