"""One OS process of the two-process token-cap race (and the holder the sweep test SIGKILLs).

``python -m tests.llm_usage.token_worker DSN AGENT_ID DAILY_LIMIT ATTEMPTS PROMPT_CHARS MAX_TOKENS`` prints
``ready``, waits for a line naming a wall-clock start (``go 1765000000.5``), sleeps until then, tries
ATTEMPTS reservations four at a time and settles each admitted one at its full need, then prints how
many were admitted. With ATTEMPTS 0 it instead reserves once, prints ``held``, and waits to be killed.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid

import asyncpg

from llm_usage import token_budgets
from llm_usage.token_budgets import Limits
from llm_usage.token_caps import TokenLimitReached
from storage.pool import init_connection


async def _one(pool: asyncpg.Pool, agent_id: uuid.UUID, limits: Limits, prompt_chars: int, max_tokens: int) -> bool:
    try:
        grant = await token_budgets.reserve(pool, agent_id, limits, prompt_chars=prompt_chars, max_tokens=max_tokens)
    except TokenLimitReached:
        return False
    await asyncio.sleep(0.01)  # the model answering while the tokens stay reserved
    await token_budgets.settle(pool, grant.id, grant.need)
    return True


async def main(dsn: str, agent_id: uuid.UUID, daily: int, attempts: int, prompt_chars: int, max_tokens: int) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=4, max_size=4, init=init_connection)
    assert pool is not None
    limits = Limits(daily, None)
    try:
        if attempts == 0:
            await token_budgets.reserve(pool, agent_id, limits, prompt_chars=prompt_chars, max_tokens=max_tokens)
            print("held", flush=True)
            await asyncio.sleep(3600)
        print("ready", flush=True)
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await asyncio.sleep(max(0.0, float(line.split()[1]) - time.time()))
        gate = asyncio.Semaphore(4)

        async def attempt() -> bool:
            async with gate:
                return await _one(pool, agent_id, limits, prompt_chars, max_tokens)
        results = await asyncio.gather(*(attempt() for _ in range(attempts)))
    finally:
        await pool.close()
    print(sum(results), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], uuid.UUID(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]),
                     int(sys.argv[6])))
