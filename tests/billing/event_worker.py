"""One OS process delivering a Stripe event straight into `apply_event` (cross-process dedupe test).

Run as ``python -m tests.billing.event_worker DSN`` with the event JSON on stdin's first line; it
connects, prints ``ready``, waits for a second line (so all workers start together), applies
the event and prints the outcome.
"""

from __future__ import annotations

import asyncio
import sys

import asyncpg
import orjson

from billing.stripe_events import StripeEvent, apply_event


async def main(dsn: str) -> None:
    event = StripeEvent.parse(orjson.loads(sys.stdin.readline()))
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    assert pool is not None
    try:
        await pool.fetchval("SELECT 1")
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        print((await apply_event(pool, event)).value, flush=True)
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
