"""Load test of the wallet read routes against a real server process and a real (embedded) PostgreSQL.

Starts the embedded database in a temporary folder, migrates it, seeds one business with a
ledger of `--entries` entries and an open hold, starts `agent-server serve` as a separate
process, then keeps `--connections` concurrent keep-alive connections busy for `--duration`
seconds per route and prints requests/s and latency percentiles. Every balance response is
also checked for balance - held == available.

    .venv/bin/python bench/api.py --connections 32 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from agent_server import auth, tenants  # noqa: E402
from agent_server.config import load_settings  # noqa: E402
from agent_server.embedded_db import start_embedded  # noqa: E402
from agent_server.migrations import migrate  # noqa: E402
from billing import holds, ledger  # noqa: E402
from billing.ledger import EntryKind  # noqa: E402
from billing.money import Currency, Money  # noqa: E402

JWT_SECRET = "bench-secret-with-enough-entropy-0123456789abcdef"
ROUTES = {
    "balance": "/api/wallet/balance?currency=USD",
    "transactions": "/api/wallet/transactions?limit=50",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def seed(dsn: str, entries: int) -> tuple[uuid.UUID, uuid.UUID]:
    """One business, one owner, `entries` ledger entries and an open hold."""
    await migrate(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    assert pool is not None
    try:
        business = await tenants.create_business(pool, "Bench")
        user = await tenants.create_user(pool, f"bench-{uuid.uuid4().hex[:8]}@example.com")
        await tenants.add_member(pool, business, user, "owner")
        await ledger.credit(pool, business_id=business, amount=Money(10_000_000, Currency.USD), kind=EntryKind.TOPUP,
                            idempotency_key="bench:seed", reference="seed", actor="bench")
        for i in range(entries - 1):
            await ledger.debit(pool, business_id=business, amount=Money(1 + i % 97, Currency.USD),
                               kind=EntryKind.SMS_USAGE, idempotency_key=f"bench:{i}", reference=f"sms:{i}",
                               actor="bench")
        await holds.place_hold(pool, business_id=business, amount=Money(5_000, Currency.USD),
                               expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
                               idempotency_key="bench:hold", reference="call:bench")
    finally:
        await pool.close()
    return business, user


async def wait_ready(base: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{base}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("server did not become ready")


async def load(base: str, path: str, token: str, connections: int, duration: float) -> tuple[list[float], int]:
    """Closed-loop load: each connection sends its next request when the previous one is answered."""
    latencies: list[float] = []
    errors = 0
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:
        deadline = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                async with session.get(base + path) as response:
                    body = await response.json()
                latencies.append(time.perf_counter() - started)
                if response.status != 200 or ("balance" in body and
                                               body["balance"] - body["held"] != body["available"]):
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    return latencies, errors


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


async def run(args: argparse.Namespace) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    # Registered before the embedded server starts, so it runs after the server's own exit hook stops it.
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    dsn = start_embedded(scratch / "data")
    business, user = await seed(dsn, args.entries)
    token = auth.mint_token(load_settings(env={"SUPABASE_JWT_SECRET": JWT_SECRET}).auth, user)
    port = free_port()
    env = {**os.environ, "DATABASE_URL": dsn, "SUPABASE_JWT_SECRET": JWT_SECRET, "PORT": str(port)}
    serve = "import sys; from agent_server.cli import main; sys.exit(main(['serve']))"
    server = subprocess.Popen([sys.executable, "-c", serve], cwd=ROOT, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            await wait_ready(base)
        except RuntimeError:
            server.terminate()
            raise RuntimeError(server.communicate(timeout=10)[1].decode()[-2000:]) from None
        print(f"command: {shlex.join([sys.executable, *sys.argv])}")
        print(f"setup: 1 server process, pool max {load_settings(env={}).database.pool_max_size}, embedded "
              f"PostgreSQL, {args.entries} ledger entries, {args.connections} connections, {os.cpu_count()} CPUs "
              "shared by load generator, server and database")
        for name in args.routes:
            await load(base, ROUTES[name], token, args.connections, 1.0)  # warm-up
            latencies, errors = await load(base, ROUTES[name], token, args.connections, args.duration)
            ordered = sorted(latencies)
            print(f"GET {ROUTES[name]}: {len(latencies) / args.duration:.0f} req/s, "
                  f"p50 {percentile(ordered, 0.50) * 1000:.1f} ms, p99 {percentile(ordered, 0.99) * 1000:.1f} ms, "
                  f"{len(latencies)} requests, {errors} errors")
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per route")
    parser.add_argument("--entries", type=int, default=2000, help="ledger entries to seed")
    parser.add_argument("--routes", nargs="+", choices=sorted(ROUTES), default=["balance", "transactions"])
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
