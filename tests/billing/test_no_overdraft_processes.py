"""Property 2 across OS processes: several workers share one small wallet and never overdraw it."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pytest

from billing import ledger
from billing.ledger import EntryKind
from billing.money import Currency, Money
from tests.conftest import MakeBusiness

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 5
OPS = 80
SEED_BALANCE = 9_000  # about half of what the workers try to spend: they run dry midway

pytestmark = pytest.mark.timeout(60)


async def _spawn(database_url: str, business: str, worker: int) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.billing.wallet_worker", database_url, business, str(worker),
        str(1000 + worker), str(OPS), cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    assert (await proc.stdout.readline()).strip() == b"ready"
    return proc


async def _monitor(database_url: str, wallet_id: int, stop: asyncio.Event) -> list[int]:
    """Sample available from its own connection for as long as the workers run."""
    conn = await asyncpg.connect(database_url)
    samples = []
    try:
        while not stop.is_set():
            samples.append(await conn.fetchval("SELECT balance - held FROM wallets WHERE id = $1", wallet_id))
            await asyncio.sleep(0.002)  # leave the two CI cores to the workers
    finally:
        await conn.close()
    return samples


@pytest.mark.parametrize(("workers", "credit_limit"), [(WORKERS, 0), (4, 2_000)], ids=["prepaid", "credit"])
async def test_processes_never_overdraw_one_wallet(pool: asyncpg.Pool, database_url: str,
                                                   make_business: MakeBusiness, workers: int,
                                                   credit_limit: int) -> None:
    """K processes × M random ops: Σ entries == balance, one entry per accepted op, min available ≥ -credit_limit."""
    tenant = await make_business()
    seed = await ledger.credit(pool, business_id=tenant.business_id, amount=Money(SEED_BALANCE, Currency.USD),
                               kind=EntryKind.TOPUP, idempotency_key="seed", reference="seed", actor="test")
    await ledger.set_credit_limit(pool, tenant.business_id, Currency.USD, credit_limit)
    procs = await asyncio.gather(*(_spawn(database_url, str(tenant.business_id), w) for w in range(workers)))
    stop = asyncio.Event()
    monitor = asyncio.create_task(_monitor(database_url, seed.wallet_id, stop))
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(b"go\n")
        await proc.stdin.drain()
    outputs = await asyncio.gather(*(proc.communicate() for proc in procs))
    stop.set()
    samples = await monitor
    assert all(proc.returncode == 0 for proc in procs)
    results: list[dict[str, Any]] = [orjson.loads(line) for out, _ in outputs for line in out.splitlines()]

    assert len(results) == workers * OPS
    accepted = [r for r in results if r["ok"]]
    refused = [r for r in results if not r["ok"]]
    assert accepted and refused, "the wallet should run dry partway through"
    assert len(samples) > 10 and min(samples) >= -credit_limit

    wallet = await ledger.get_wallet(pool, tenant.business_id, Currency.USD)
    assert wallet is not None and wallet.available >= -credit_limit
    if credit_limit:
        lowest = await pool.fetchval("SELECT min(balance_after) FROM ledger_entries WHERE wallet_id = $1", wallet.id)
        assert lowest < 0, "the workers spent into the credit"
    assert wallet.balance == await pool.fetchval("SELECT sum(amount) FROM ledger_entries WHERE wallet_id = $1",
                                                 wallet.id)
    rows = await pool.fetch("SELECT idempotency_key, count(*) FROM ledger_entries GROUP BY 1")
    counts: dict[str, int] = {r[0]: r[1] for r in rows}
    assert all(counts.get(r["key"]) == 1 for r in accepted if r["entry"])
    assert not any(r["key"] in counts for r in results if not r["entry"])
    assert sum(counts.values()) == 1 + sum(1 for r in accepted if r["entry"])
    assert await ledger.conservation_violations(pool) == []
