"""How fast the token report answers over a year of `llm_requests`, and what a row costs a reply's settle.

Starts the embedded database in a temporary folder, migrates it, and gives one business
`--agents` agents and `--rows` attempts spread over the last 365 days and four models (every
`--charged`-th one pointing at its own chat ledger entry). Then it times, `--repeat` times each,
`llm_usage.report.token_report` for the whole business per day and per model over 366 days
and for one agent per day (what `GET /api/usage/tokens` runs), and writing one reply's row in
a transaction (`llm_usage.requests.insert`, what a chat charge adds).

    .venv/bin/python bench/token_report.py --rows 100000
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import datetime
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
from billing import ledger  # noqa: E402
from billing.cost_config import ProviderCostsConfig  # noqa: E402
from billing.ledger import EntryKind  # noqa: E402
from billing.money import Currency, Money  # noqa: E402
from llm_usage import requests as llm_requests  # noqa: E402
from llm_usage.report import ReportFilter, token_report  # noqa: E402
from llm_usage.requests import Attempt, RequestContext, RequestLog  # noqa: E402
from storage.pool import init_connection  # noqa: E402

MODELS = ("gpt-4o-mini", "gpt-4o", "gpt-3.5-turbo", "some-unpriced-model")
PRICES = ProviderCostsConfig().llm


async def seed(pool: asyncpg.Pool, rows: int, agent_count: int, charged_every: int) -> tuple[uuid.UUID, uuid.UUID]:
    business = await tenants.create_business(pool, "Bench")
    await ledger.credit(pool, business_id=business, amount=Money(10**9, Currency.USD), kind=EntryKind.TOPUP,
                        idempotency_key="bench:topup", reference="bench", actor="bench")
    agent_ids = [await agents.create_agent(pool, business, f"Agent {i}") for i in range(agent_count)]
    batch = 1000
    for start in range(0, rows, batch):
        agent = agent_ids[(start // batch) % agent_count]
        attempts = [Attempt(MODELS[i % 4], MODELS[i % 4], 1 + (i % 20 == 0), "error" if i % 50 == 0 else "ok", 200,
                            800 + i % 700, i % 300, 40 + i % 90, i % 33 == 0) for i in range(start, start + batch)]
        await llm_requests.insert(pool, RequestLog(RequestContext(business, agent, 1, "widget"), attempts),
                                  ledger_key=None, prices=PRICES)
    await pool.execute("UPDATE llm_requests SET created_at = now() - (id % 365) * interval '1 day'"
                       " - (id % 1440) * interval '1 minute'")
    keys = await pool.fetch("SELECT id FROM llm_requests WHERE id % $1 = 0", charged_every)
    for row in keys:
        key = f"chat:bench:{row['id']}"
        await ledger.debit(pool, business_id=business, amount=Money(3, Currency.USD), kind=EntryKind.CHAT_USAGE,
                           idempotency_key=key, reference=key, actor="bench")
        await pool.execute("UPDATE llm_requests SET ledger_key = $2 WHERE id = $1", row["id"], key)
    await pool.execute("ANALYZE llm_requests")
    return business, agent_ids[0]


async def timed(repeat: int, run: object) -> str:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        await run()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
    return f"median {statistics.median(samples):.1f} ms, max {max(samples):.1f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--charged", type=int, default=10, help="every n-th row points at a ledger entry")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-token-report-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    dsn = start_embedded(scratch / "data")
    await migrate(dsn)
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=4, init=init_connection)
    assert pool is not None
    try:
        started = time.perf_counter()
        business, agent = await seed(pool, args.rows, args.agents, args.charged)
        print(f"seeded {args.rows} rows ({args.rows // args.charged} charged) in {time.perf_counter() - started:.1f} s")
        end = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1)
        year = ReportFilter(business, end - datetime.timedelta(days=366), end)
        for label, where, group in (("business per day, 366 days", year, "day"),
                                    ("business per model, 366 days", year, "model"),
                                    ("one agent per day, 366 days", ReportFilter(business, year.start, end, agent),
                                     "day")):
            print(f"{label}: {await timed(args.repeat, lambda w=where, g=group: token_report(pool, w, g))}")
        ctx = RequestContext(business, agent, 1, "widget")
        one = RequestLog(ctx, [Attempt("gpt-4o-mini", "gpt-4o-mini", 1, "ok", 200, 1200, 0, 80)])

        async def write_row() -> None:
            async with pool.acquire() as conn, conn.transaction():
                await llm_requests.insert(conn, one, ledger_key=None, prices=PRICES)

        print(f"one reply's row in a transaction: {await timed(args.repeat * 10, write_row)}")
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
