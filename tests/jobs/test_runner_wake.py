"""A runner given a DSN LISTENs for enqueued jobs: a due job runs at once, not at the next poll, also after the
listening connection is lost."""

from __future__ import annotations

import asyncio
import datetime

import asyncpg

from jobs import queue
from jobs.config import JobsConfig
from jobs.queue import Job
from jobs.runner import Runner

_LISTENERS = "SELECT array_agg(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"


async def _listening(pool: asyncpg.Pool, other_than: int | None = None) -> int:
    """The pid of the runner's LISTEN connection, once there is one (and it is not `other_than`)."""
    for _ in range(200):
        pids = [p for p in await pool.fetchval(_LISTENERS) or [] if p != other_than]
        if pids:
            return int(pids[0])
        await asyncio.sleep(0.05)
    raise AssertionError("the runner never listened")


async def test_an_enqueued_job_wakes_an_idle_runner_long_before_its_poll(pool: asyncpg.Pool,
                                                                         database_url: str) -> None:
    ran = asyncio.Event()

    async def handler(job: Job) -> None:
        ran.set()

    runner = Runner(pool, {"wake": handler}, JobsConfig(poll_interval_seconds=600, concurrency=2),
                    listen_dsn=database_url)
    async with runner.running(grace_seconds=1):
        await _listening(pool)
        await asyncio.sleep(0.2)  # the loop has polled once and sleeps its 600 s
        await queue.enqueue(pool, "wake", now=datetime.datetime.now(datetime.UTC))
        await asyncio.wait_for(ran.wait(), 30)


async def test_a_job_queued_for_later_sends_no_wake_up(pool: asyncpg.Pool, database_url: str) -> None:
    listener = await asyncpg.connect(database_url)
    heard: list[str] = []
    try:
        await listener.add_listener(queue.WAKE_CHANNEL, lambda *args: heard.append(args[2]))
        now = datetime.datetime.now(datetime.UTC)
        await queue.enqueue(pool, "later", now=now, run_at=now + datetime.timedelta(minutes=5))
        await queue.enqueue(pool, "now", now=now)
        for _ in range(100):
            if heard:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
    finally:
        await listener.close()
    assert heard == [queue.WAKE_CHANNEL], "one wake-up, for the job due now"


async def test_a_runner_listens_again_after_its_connection_is_lost(pool: asyncpg.Pool, database_url: str) -> None:
    ran = asyncio.Event()

    async def handler(job: Job) -> None:
        ran.set()

    runner = Runner(pool, {"wake": handler}, JobsConfig(poll_interval_seconds=0.2, concurrency=2),
                    listen_dsn=database_url)
    async with runner.running(grace_seconds=1):
        first = await _listening(pool)
        assert await pool.fetchval("SELECT pg_terminate_backend($1)", first)
        second = await _listening(pool, other_than=first)
        assert second != first
        await queue.enqueue(pool, "wake", now=datetime.datetime.now(datetime.UTC))
        await asyncio.wait_for(ran.wait(), 30)
