"""One OS process of the two-process limit test.

Run as ``python -m tests.conversations.limit_worker DSN KEY PER_MINUTE BURST ATTEMPTS``: it
prints ``ready``, waits for a line on stdin naming a wall-clock start time (``go 1765000000.5``)
and sleeps until then, so both processes start together however late each reads its line (the
first to read it once took the whole burst before the second woke), checks the limit for KEY
ATTEMPTS times over a small pool, one every 5 ms, and prints how many checks passed. The pace
keeps the burst from being spent before the other process is scheduled (all at once, one
process once took all 50 in the few milliseconds the other waited for a CPU).
"""

from __future__ import annotations

import asyncio
import sys
import time

import asyncpg

from conversations import rate_limits
from conversations.gcra import Limit
from conversations.rate_limits import Scope
from storage.pool import init_connection


async def main(dsn: str, key: str, limit: Limit, attempts: int) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=4, max_size=4, init=init_connection)
    assert pool is not None
    print("ready", flush=True)
    line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await asyncio.sleep(max(0.0, float(line.split()[1]) - time.time()))
    try:
        # Up to four checks in flight (the pool), like a worker serving several visitors at once.
        checks = []
        for _ in range(attempts):
            checks.append(asyncio.create_task(rate_limits.allow(pool, Scope.WIDGET_IP, key, limit)))
            await asyncio.sleep(0.005)
        results = await asyncio.gather(*checks)
    finally:
        await pool.close()
    print(sum(results), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], Limit(float(sys.argv[3]), int(sys.argv[4])), int(sys.argv[5])))
