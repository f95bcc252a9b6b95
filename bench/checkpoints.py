"""Call checkpoints per second and their p99, with double entry and with the code from before it.

    .venv/bin/python bench/checkpoints.py --calls 200 --businesses 50 --seconds 8 --rounds 4

Every call is a real meter (`billing.call_meter`) on an embedded PostgreSQL: each loop
iteration is one checkpoint (charge the seconds used, extend the grant), as a live call does
every 15 s, run back to back so the database is the limit. Rounds alternate (ABBA, the
database vacuumed before each) between the billing code of this checkout (each entry with its
platform counter-side, quantity and cost in one statement) and the billing code of `--before`
(default: the commit before double entry came in), unpacked from git into a temporary folder,
each round in its own process on the same database, so both run on the same machine and
moment; the last lines compare the medians.
The "before" rounds write no counter-sides, so the books don't balance: the database is
thrown away.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The packages a meter's code path imports; "before" rounds take all of them from `--before`.
PACKAGES = ("billing", "storage", "config_fields")


async def one_call(meter: Any, prices: Any, pool: Any, business: uuid.UUID, deadline: float,
                   latencies: list[float]) -> None:
    """A call that checkpoints as fast as the database lets it until `deadline`."""
    sid = f"CA{uuid.uuid4().hex}"
    opened = await meter.open_meter(pool, business_id=business, call_sid=sid, prices=prices, wanted=60, minimum=10,
                                    lease_seconds=120)
    assert opened is not None
    used = 0
    while time.perf_counter() < deadline:
        used += 15
        started = time.perf_counter()
        await meter.checkpoint(pool, sid, used_seconds=used, grant_ahead=60, lease_seconds=120)
        latencies.append(time.perf_counter() - started)
    await meter.settle(pool, sid, used_seconds=used, source="bench")


async def worker(dsn: str, code: str, calls: int, seconds: float) -> dict[str, float]:
    """One round in this process, with whichever `billing` is first on sys.path."""
    import asyncpg

    meter = importlib.import_module("billing.call_meter")
    assert str(meter.__file__).startswith(code), f"{meter.__file__} is not from {code}"
    pricing = importlib.import_module("billing.pricing")
    money = importlib.import_module("billing.money")
    prices = pricing.Prices(money.Currency.USD, voice_per_minute=120, sms_per_reply=2, chat_per_1k_tokens=1)
    pool = await asyncpg.create_pool(dsn, min_size=20, max_size=20)
    try:
        businesses = [r["id"] for r in await pool.fetch("SELECT id FROM businesses ORDER BY name")]
        latencies: list[float] = []
        deadline = time.perf_counter() + seconds
        started = time.perf_counter()
        await asyncio.gather(*(one_call(meter, prices, pool, businesses[n % len(businesses)], deadline, latencies)
                               for n in range(calls)))
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    return {"rate": len(latencies) / elapsed, "p99_ms": statistics.quantiles(latencies, n=100)[98] * 1000}


def before_revision() -> str:
    """The commit just before `billing/accounts.py` (double entry) was added."""
    added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "-1", "--", "billing/accounts.py"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    if not added:
        raise SystemExit("billing/accounts.py is not committed yet: pass --before REV")
    return f"{added}^"


def unpack(revision: str, into: Path) -> Path:
    """The billing code path of `revision`, extracted with git archive (the work tree is untouched)."""
    archive = into / "before.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", "--format=tar", revision, *PACKAGES], cwd=ROOT, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into / "code", filter="data")
    return into / "code"


def run_round(dsn: str, code: Path, args: argparse.Namespace) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--worker", dsn, "--code", str(code), "--calls", str(args.calls),
                          "--seconds", str(args.seconds)], capture_output=True, text=True, check=True)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


async def seed(dsn: str, businesses: int) -> None:
    import asyncpg

    from agent_server import tenants
    from agent_server.migrations import migrate
    from billing import ledger
    from billing.ledger import EntryKind
    from billing.money import Currency, Money

    await migrate(dsn)
    conn = await asyncpg.connect(dsn)
    try:
        for n in range(businesses):
            business = await tenants.create_business(conn, f"bench-{n:04d}")
            await ledger.credit(conn, business_id=business, amount=Money(10**12, Currency.USD),
                                kind=EntryKind.TOPUP, idempotency_key=f"bench:{business}", reference="bench",
                                actor="bench")
    finally:
        await conn.close()


def vacuum(dsn: str) -> None:
    async def run() -> None:
        import asyncpg

        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()

    asyncio.run(run())


def compare(dsn: str, before: Path, args: argparse.Namespace) -> int:
    variants = {"before": before, "double": ROOT}
    run_round(dsn, ROOT, argparse.Namespace(calls=args.calls, seconds=2.0))  # warm-up
    figures: dict[str, list[dict[str, float]]] = {"before": [], "double": []}
    for n in range(args.rounds):
        # The database grows with every round (wallet rows churn, entries pile up): alternate which
        # variant goes first (ABBA) and vacuum before each round, so neither always meets the bigger one.
        order = list(variants.items()) if n % 2 == 0 else list(reversed(variants.items()))
        for name, code in order:
            vacuum(dsn)
            result = run_round(dsn, code, args)
            figures[name].append(result)
            print(f"round {n + 1} {name:>6}: {result['rate']:7.0f} checkpoints/s, p99 {result['p99_ms']:7.1f} ms",
                  flush=True)
    rate = {k: statistics.median(r["rate"] for r in v) for k, v in figures.items()}
    p99 = {k: statistics.median(r["p99_ms"] for r in v) for k, v in figures.items()}
    print(f"median before: {rate['before']:.0f}/s, p99 {p99['before']:.1f} ms; double entry: {rate['double']:.0f}/s,"
          f" p99 {p99['double']:.1f} ms; rate {100 * (rate['double'] / rate['before'] - 1):+.1f} %,"
          f" p99 {100 * (p99['double'] / p99['before'] - 1):+.1f} %")
    within = rate["double"] >= 0.9 * rate["before"] and p99["double"] <= 1.1 * p99["before"]
    print("within 10 %" if within else "NOT within 10 %")
    return 0 if within else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="live calls checkpointing at once")
    parser.add_argument("--businesses", type=int, default=50, help="wallets the calls are spread over")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each variant, interleaved")
    parser.add_argument("--before", help="git revision to compare with (default: the one before double entry)")
    parser.add_argument("--worker", metavar="DSN", help=argparse.SUPPRESS)
    parser.add_argument("--code", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        sys.path.insert(0, args.code)
        print(json.dumps(asyncio.run(worker(args.worker, args.code, args.calls, args.seconds))))
        return 0
    sys.path.insert(0, str(ROOT))
    from agent_server.embedded_db import start_embedded, stop_embedded
    from agent_server.logs import configure_logging

    configure_logging("warning")
    root = Path(tempfile.mkdtemp(prefix="agent-server-checkpoints-"))
    try:
        before = unpack(args.before or before_revision(), root)
        dsn = start_embedded(root / "data")
        asyncio.run(seed(dsn, args.businesses))
        return compare(dsn, before, args)
    finally:
        stop_embedded(root / "data")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
