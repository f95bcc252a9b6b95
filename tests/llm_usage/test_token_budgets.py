"""Per-agent token budgets in PostgreSQL: reserve, settle, release and sweep, across processes."""

from __future__ import annotations

import asyncio
import datetime
import os
import signal
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from agent_server import agents
from llm_usage import token_budgets
from llm_usage.token_budgets import Limits
from llm_usage.token_caps import TokenLimitReached
from tests.conftest import MakeBusiness

ROOT = Path(__file__).resolve().parents[2]
NOON = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)


async def new_agent(pool: asyncpg.Pool, make_business: MakeBusiness) -> uuid.UUID:
    tenant = await make_business()
    return await agents.create_agent(pool, tenant.business_id, "Capped")


async def budget(pool: asyncpg.Pool, agent_id: uuid.UUID, period: str) -> tuple[int, int]:
    row = await pool.fetchrow("SELECT used, reserved FROM token_budgets WHERE agent_id = $1 AND period = $2"
                              " ORDER BY start DESC LIMIT 1", agent_id, period)
    assert row is not None
    return row["used"], row["reserved"]


async def test_settle_counts_the_reported_tokens_and_frees_the_reservation(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    agent_id = await new_agent(pool, make_business)
    grant = await token_budgets.reserve(pool, agent_id, Limits(1000, 5000), prompt_chars=30, max_tokens=100, now=NOON)
    assert (grant.need, grant.max_tokens) == (110, 100)
    assert await budget(pool, agent_id, "day") == (0, 110) and await budget(pool, agent_id, "month") == (0, 110)
    assert await token_budgets.settle(pool, grant.id, 42, now=NOON)
    assert not await token_budgets.settle(pool, grant.id, 42, now=NOON)  # once only
    assert await budget(pool, agent_id, "day") == (42, 0) and await budget(pool, agent_id, "month") == (42, 0)
    assert await token_budgets.used(pool, agent_id, now=NOON) == token_budgets.Used(42, 42)


async def test_a_released_reservation_counts_nothing(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    agent_id = await new_agent(pool, make_business)
    grant = await token_budgets.reserve(pool, agent_id, Limits(1000, None), prompt_chars=30, max_tokens=100, now=NOON)
    assert await token_budgets.release(pool, grant.id)
    assert await budget(pool, agent_id, "day") == (0, 0)


async def test_remaining_equal_to_need_is_served_one_less_cuts_max_tokens_by_one(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    agent_id = await new_agent(pool, make_business)
    exact = await token_budgets.reserve(pool, agent_id, Limits(110, None), prompt_chars=30, max_tokens=100, now=NOON)
    assert (exact.need, exact.max_tokens) == (110, 100)
    other = await new_agent(pool, make_business)
    cut = await token_budgets.reserve(pool, other, Limits(109, None), prompt_chars=30, max_tokens=100, now=NOON)
    assert (cut.need, cut.max_tokens) == (109, 99)


async def test_less_than_prompt_and_64_tokens_left_is_refused_naming_the_short_period(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    agent_id = await new_agent(pool, make_business)
    with pytest.raises(TokenLimitReached) as day:
        await token_budgets.reserve(pool, agent_id, Limits(73, None), prompt_chars=30, max_tokens=100, now=NOON)
    assert day.value.period == "day" and day.value.resets_at == datetime.datetime(2026, 12, 8, tzinfo=datetime.UTC)
    with pytest.raises(TokenLimitReached) as month:
        await token_budgets.reserve(pool, agent_id, Limits(None, 73), prompt_chars=30, max_tokens=100, now=NOON)
    assert month.value.period == "month"
    assert month.value.resets_at == datetime.datetime(2027, 1, 1, tzinfo=datetime.UTC)
    assert (await token_budgets.reserve(pool, agent_id, Limits(74, 74), prompt_chars=30, max_tokens=100,
                                        now=NOON)).max_tokens == 64
    assert await budget(pool, agent_id, "day") == (0, 74)


async def test_a_new_utc_day_resets_only_the_day(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    agent_id = await new_agent(pool, make_business)
    limits = Limits(200, 300)
    grant = await token_budgets.reserve(pool, agent_id, limits, prompt_chars=30, max_tokens=90, now=NOON)
    await token_budgets.settle(pool, grant.id, 200, now=NOON)
    with pytest.raises(TokenLimitReached) as today:
        await token_budgets.reserve(pool, agent_id, limits, prompt_chars=30, max_tokens=90, now=NOON)
    assert today.value.period == "day"
    tomorrow = NOON + datetime.timedelta(days=1)
    grant = await token_budgets.reserve(pool, agent_id, limits, prompt_chars=30, max_tokens=90, now=tomorrow)
    assert grant.need == 100  # the month's 100 left, the new day's 200
    await token_budgets.settle(pool, grant.id, 100, now=tomorrow)
    assert await token_budgets.used(pool, agent_id, now=tomorrow) == token_budgets.Used(100, 300)
    with pytest.raises(TokenLimitReached) as spent:
        await token_budgets.reserve(pool, agent_id, limits, prompt_chars=30, max_tokens=90, now=tomorrow)
    assert spent.value.period == "month"


async def test_no_limit_admits_everything_and_still_counts(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    agent_id = await new_agent(pool, make_business)
    grant = await token_budgets.reserve(pool, agent_id, Limits(None, None), prompt_chars=3_000_000,
                                        max_tokens=4000, now=NOON)
    await token_budgets.settle(pool, grant.id, 1_004_000, now=NOON)
    assert await token_budgets.used(pool, agent_id, now=NOON) == token_budgets.Used(1_004_000, 1_004_000)


async def _spawn(database_url: str, agent_id: uuid.UUID, limit: int, attempts: int,
                 ) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.llm_usage.token_worker", database_url, str(agent_id), str(limit),
        str(attempts), "300", "100", cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    expected = b"held" if attempts == 0 else b"ready"
    assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == expected
    return proc


async def test_two_processes_racing_for_the_last_ten_needs_serve_ten(
        database_url: str, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """40 requests of 200 tokens (100 of prompt, 100 of output) from two processes, 2,000 tokens left."""
    agent_id = await new_agent(pool, make_business)
    limit = 100_000
    today = datetime.datetime.now(datetime.UTC).date()
    await pool.execute("INSERT INTO token_budgets (agent_id, period, start, token_limit, used)"
                       " VALUES ($1, 'day', $2, $3, $4)", agent_id, today, limit, limit - 2_000)
    procs = [await _spawn(database_url, agent_id, limit, 20) for _ in range(2)]
    start_at = time.time() + 0.5
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"go {start_at}\n".encode())
        await proc.stdin.drain()
    outputs = [await asyncio.wait_for(proc.communicate(), 60) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    served = [int(out.strip().splitlines()[-1]) for out, _ in outputs]
    assert sum(served) == 10, served
    used, reserved = await budget(pool, agent_id, "day")
    assert used == limit and reserved == 0
    assert await pool.fetchval("SELECT count(*) FROM token_reservations WHERE agent_id = $1"
                               " AND settled_at IS NULL", agent_id) == 0


async def test_a_sigkilled_holders_reservation_is_swept_after_it_expires(
        database_url: str, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    agent_id = await new_agent(pool, make_business)
    proc = await _spawn(database_url, agent_id, 1_000, 0)
    os.kill(proc.pid, signal.SIGKILL)
    await proc.wait()
    assert (await budget(pool, agent_id, "day"))[1] == 200
    now = datetime.datetime.now(datetime.UTC)
    assert await token_budgets.sweep(pool, now=now) == 0  # not expired yet: the holder may still be answering
    later = now + datetime.timedelta(seconds=token_budgets.RESERVATION_SECONDS + 1)
    assert await token_budgets.sweep(pool, now=later) == 1
    assert await budget(pool, agent_id, "day") == (0, 0) and await budget(pool, agent_id, "month") == (0, 0)
    assert await token_budgets.sweep(pool, now=later) == 0


async def test_the_sweeper_deletes_reservations_closed_more_than_a_day_ago(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    agent_id = await new_agent(pool, make_business)
    old = await token_budgets.reserve(pool, agent_id, Limits(None, None), prompt_chars=3, max_tokens=10, now=NOON)
    await token_budgets.settle(pool, old.id, 5, now=NOON)
    later = NOON + datetime.timedelta(hours=10)
    recent = await token_budgets.reserve(pool, agent_id, Limits(None, None), prompt_chars=3, max_tokens=10, now=later)
    await token_budgets.settle(pool, recent.id, 5, now=later)
    await token_budgets.sweep(pool, now=NOON + datetime.timedelta(days=1, seconds=1))
    assert [r["id"] for r in await pool.fetch("SELECT id FROM token_reservations")] == [recent.id]
    assert await token_budgets.used(pool, agent_id, now=later) == token_budgets.Used(10, 10)
