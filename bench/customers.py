"""Customer sign-in and the portal's conversation list, through a real server process and embedded PostgreSQL.

Starts the embedded database in a temporary folder, migrates it and seeds one business with
20 agents, `--conversations` widget conversations spread over them (a third with an analysed
outcome), one customer assigned 5 of the agents and `--rate * --duration` customers to sign
in. Starts `agent-server serve` (`bench/served.py`; its in-process job runner, woken by the
enqueue's NOTIFY, mails through a local SMTP server in this process), then for `--duration` seconds starts `--rate` sign-ins a second (open loop): each
asks for a link by address (`POST /api/customers/portal/login-link`), waits for the mail at the
SMTP server, reads the token and exchanges it (`POST /api/customers/portal/session`). Prints
the request's, the exchange's and the link's (request sent -> mail received) percentiles, then
the portal conversation list's (`GET /api/customers/portal/conversations`, closed loop).
Enumeration: the same count of link requests for a known, an unknown and a disabled address,
interleaved, and their medians. Prints the load average before and after (the figures mean
little on a machine busy with other work).

    .venv/bin/python bench/customers.py --rate 100 --duration 60
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime
import os
import re
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_server import agents, tenants  # noqa: E402
from agent_server.embedded_db import start_embedded  # noqa: E402
from agent_server.migrations import migrate  # noqa: E402
from bench.served import load_average, percentile, serving  # noqa: E402
from customers import links  # noqa: E402
from storage.pool import init_connection  # noqa: E402
from tests.fake_smtp import FakeSmtp  # noqa: E402

CUSTOMER_SECRET = "bench-customer-secret-0123456789abcdef-0123456789"
_TOKEN = re.compile(r"/login#token=([A-Za-z0-9_-]+)")


async def seed(dsn: str, conversations: int, sign_ins: int) -> str:
    """The business, its agents and conversations, the customers; the token of the portal reader's link."""
    await migrate(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4, init=init_connection)
    assert pool is not None
    try:
        business = await tenants.create_business(pool, "Bench")
        agent_ids = [await agents.create_agent(pool, business, f"Agent {i}") for i in range(20)]
        now = datetime.datetime.now(datetime.UTC)
        await pool.execute(
            "INSERT INTO widget_conversations (id, agent_id, business_id, created_at, updated_at)"
            " SELECT gen_random_uuid(), ($2::uuid[])[1 + i % 20], $1, $3::timestamptz - i * interval '1 minute',"
            " $3::timestamptz - i * interval '1 minute' FROM generate_series(0, $4 - 1) AS i",
            business, agent_ids, now, conversations)
        await pool.execute(
            "INSERT INTO conversation_outcomes (id, business_id, agent_id, channel, first_message_at, last_message_at,"
            " ended_at, end_reason, analysis_status, analysis) SELECT id, business_id, agent_id, 'widget', created_at,"
            " created_at, created_at, 'timeout', 'analysed', '{\"summary\": \"Asked about prices.\","
            " \"outcome\": \"resolved\", \"sentiment\": \"neutral\"}'::jsonb FROM widget_conversations"
            " WHERE business_id = $1 AND abs(hashtext(id::text)) % 3 = 0", business)
        reader = await pool.fetchval("INSERT INTO customers (business_id, email, full_name, status)"
                                     " VALUES ($1, 'reader@bench.example', 'Reader', 'active') RETURNING id", business)
        await pool.executemany("INSERT INTO customer_agent_assignments (customer_id, agent_id) VALUES ($1, $2)",
                               [(reader, a) for a in agent_ids[:5]])
        await pool.execute("INSERT INTO customers (business_id, email, full_name, status) SELECT $1,"
                           " 'c' || i || '@bench.example', 'Customer ' || i, 'active' FROM generate_series(0, $2) AS i",
                           business, sign_ins + 1)
        await pool.execute("UPDATE customers SET status = 'disabled' WHERE email = 'c0@bench.example'")
        token = links.new_token()
        await pool.execute("INSERT INTO customer_login_links (customer_id, token_hash, purpose, created_at, expires_at)"
                           " VALUES ($1, $2, 'login', now(), now() + interval '1 day')", reader, links.token_hash(token))
        await pool.execute("ANALYZE")
    finally:
        await pool.close()
    return token


class Mailbox:
    """Waits for the mail each address is sent, by watching the local SMTP server's received list."""

    def __init__(self, smtp: FakeSmtp) -> None:
        self.smtp = smtp
        self.waiting: dict[str, asyncio.Future[str]] = {}
        self.seen = 0

    async def watch(self) -> None:
        while True:
            for message in self.smtp.received[self.seen:]:
                text = message.get_body(("plain",))
                found = _TOKEN.search(text.get_content() if text is not None else "")
                future = self.waiting.pop(str(message["To"]), None)
                if future is not None and found is not None and not future.done():
                    future.set_result(found.group(1))
            self.seen = len(self.smtp.received)
            await asyncio.sleep(0.002)


async def sign_in(session: aiohttp.ClientSession, base: str, mailbox: Mailbox, email: str,
                  figures: dict[str, list[float]]) -> None:
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    mailbox.waiting[email] = future
    started = time.perf_counter()
    async with session.post(f"{base}/api/customers/portal/login-link", json={"email": email}) as resp:
        await resp.read()
        figures["request"].append(time.perf_counter() - started)
        if resp.status != 202:
            figures["errors"].append(resp.status)
            return
    try:
        token = await asyncio.wait_for(future, 30)
    except TimeoutError:
        figures["errors"].append(0)
        return
    figures["link"].append(time.perf_counter() - started)
    exchanged = time.perf_counter()
    async with session.post(f"{base}/api/customers/portal/session", json={"token": token}) as resp:
        await resp.read()
        figures["exchange"].append(time.perf_counter() - exchanged)
        if resp.status != 200:
            figures["errors"].append(resp.status)


def summary(name: str, values: list[float]) -> str:
    ordered = sorted(values)
    if not ordered:
        return f"{name}: none"
    return (f"{name}: {len(ordered)}, p50 {percentile(ordered, 0.5) * 1000:.1f} ms, "
            f"p99 {percentile(ordered, 0.99) * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms")


async def pairs(base: str, smtp: FakeSmtp, rate: int, duration: float) -> None:
    mailbox = Mailbox(smtp)
    watcher = asyncio.create_task(mailbox.watch())
    figures: dict[str, list[float]] = {"request": [], "exchange": [], "link": [], "errors": []}
    tasks = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        start = time.perf_counter()
        for i in range(int(rate * duration)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(sign_in(session, base, mailbox, f"c{i + 1}@bench.example", figures)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    watcher.cancel()
    print(f"sign-ins: {len(figures['exchange'])} in {elapsed:.1f} s ({len(figures['exchange']) / elapsed:.1f}/s),"
          f" errors {figures['errors'][:5]}{'...' if len(figures['errors']) > 5 else ''} ({len(figures['errors'])})")
    for name in ("request", "exchange", "link"):
        print("  " + summary(name, figures[name]))


async def enumeration(base: str, count: int) -> None:
    timings: dict[str, list[float]] = {"c1@bench.example": [], "nobody@bench.example": [], "c0@bench.example": []}
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            for email, seen in timings.items():
                started = time.perf_counter()
                async with session.post(f"{base}/api/customers/portal/login-link", json={"email": email}) as resp:
                    await resp.read()
                seen.append(time.perf_counter() - started)
    medians = {email: statistics.median(seen) * 1000 for email, seen in timings.items()}
    print("link requests, median ms (known, unknown, disabled): "
          + ", ".join(f"{m:.2f}" for m in medians.values())
          + f"; spread {max(medians.values()) - min(medians.values()):.2f} ms over {count} each")


async def portal_list(base: str, token: str, connections: int, duration: float) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{base}/api/customers/portal/session", json={"token": token}) as resp:
            access = (await resp.json())["access_token"]
        headers = {"Authorization": f"Bearer {access}"}
        latencies: list[float] = []
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(f"{base}/api/customers/portal/conversations", headers=headers) as resp:
                    await resp.read()
                    assert resp.status == 200, resp.status
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(worker() for _ in range(connections)))
    print(f"portal conversation list ({connections} connections): {len(latencies) / duration:.0f} req/s, "
          + summary("requests", latencies))


async def run(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    dsn = start_embedded(scratch / "data")
    reader_token = await seed(dsn, args.conversations, int(args.rate * args.duration) + args.enumeration)
    limits = {"link_requests_per_ip_per_hour": "10000000", "exchanges_per_ip_per_minute": "10000000",
              "links_per_address": "1000"}
    async with FakeSmtp() as smtp:
        env = {"CUSTOMER_JWT_SECRET": CUSTOMER_SECRET, "SMTP_URL": smtp.url, "MAIL_FROM": "portal@bench.example"}
        async with serving(dsn, scratch, limits, env) as (base, _):
            print(f"command: {shlex.join([sys.executable, *sys.argv])}")
            print(f"setup: 1 server process (in-process job runner), embedded PostgreSQL, {os.cpu_count()} CPUs"
                  f" shared by load generator, SMTP server, server and database; {args.conversations} conversations"
                  f" over 20 agents, the reader assigned 5; load average before: {load_average()}")
            await pairs(base, smtp, args.rate, args.duration)
            await enumeration(base, args.enumeration)
            await portal_list(base, reader_token, args.connections, args.list_duration)
            print(f"load average after: {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=int, default=100, help="sign-ins started a second")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of sign-ins")
    parser.add_argument("--conversations", type=int, default=10_000)
    parser.add_argument("--enumeration", type=int, default=200, help="link requests per address kind")
    parser.add_argument("--connections", type=int, default=4, help="portal list connections")
    parser.add_argument("--list-duration", type=float, default=10.0)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
