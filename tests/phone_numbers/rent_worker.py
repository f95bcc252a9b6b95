"""One OS process of the two-process rent test.

Run as ``python -m tests.phone_numbers.rent_worker DSN MODE NOW ROUNDS``: MODE ``job`` runs the
whole job (advisory lock included) ROUNDS times; ``direct`` charges every due number straight
through `rent.charge_number`, bypassing the lock, to show the row lock and idempotency key alone
keep one charge per period. It prints ``ready``, waits for a line on stdin so both processes
start together, then prints one JSON line with what its runs did.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import sys

import asyncpg
import orjson

from phone_numbers import registry, rent
from phone_numbers.config import NumbersConfig
from storage.pool import init_connection


async def main(dsn: str, mode: str, now: datetime.datetime, rounds: int) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2, init=init_connection)
    assert pool is not None
    config = NumbersConfig()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    results: list[object] = []
    try:
        for _ in range(rounds):
            if mode == "job":
                done = await rent.run_rent(pool, config, now=now)
                results.append(None if done is None else dataclasses.asdict(done))
            else:
                run = rent.RentRun()
                for number_id in await registry.rent_due(pool, now):
                    await rent.charge_number(pool, config, number_id, now=now, run=run)
                results.append(dataclasses.asdict(run))
    finally:
        await pool.close()
    print(orjson.dumps(results).decode(), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], datetime.datetime.fromisoformat(sys.argv[3]), int(sys.argv[4])))
