"""Daily and weekly refreshes: the recurring `knowledge.refresh` queues due crawls once, never beside a running one."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from agent_server import agents
from agent_server.knowledge_jobs import RECURRING
from jobs.config import JobsConfig
from jobs.queue import Job
from jobs.runner import Runner
from knowledge import store
from knowledge.config import KnowledgeConfig
from knowledge.refresh import REFRESH_KIND, RefreshDue, queue_due_refreshes
from storage.pool import init_connection
from storage.transactions import transaction
from tests.conftest import MakeBusiness
from tests.jobs.clock import ManualClock

T0 = datetime.datetime(2026, 2, 2, 10, 7, tzinfo=datetime.UTC)
CONFIG = KnowledgeConfig()


async def _source(pool: asyncpg.Pool, business_id: uuid.UUID, refresh: str, *, kind: str = "website",
                  crawled_at: datetime.datetime = T0) -> store.Source:
    """A source whose first crawl was queued and finished at `crawled_at`."""
    agent_id = await agents.create_agent(pool, business_id, "Helper")
    url = "https://shop.example/" if kind == "website" else None
    source = await store.create_source(pool, business_id=business_id, agent_id=agent_id, kind=kind,  # type: ignore[arg-type]
                                       url=url, refresh=refresh)
    if kind == "website":
        async with transaction(pool) as conn:
            crawl_id = await store.queue_crawl(conn, source, max_running=3, now=crawled_at)
        await store.finish_crawl(pool, crawl_id, "completed", now=crawled_at)
    return source


async def _queued(pool: asyncpg.Pool, source: store.Source) -> int:
    return int(await pool.fetchval("SELECT count(*) FROM kb_crawls WHERE source_id = $1 AND status = 'queued'",
                                   source.id))


async def test_daily_and_weekly_sources_are_queued_when_their_period_has_passed(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    daily = await _source(pool, tenant.business_id, "daily")
    weekly = await _source(pool, tenant.business_id, "weekly")
    never = await _source(pool, tenant.business_id, "never")
    await _source(pool, tenant.business_id, "daily", kind="text")

    assert await queue_due_refreshes(pool, CONFIG, now=T0 + datetime.timedelta(hours=23, minutes=59)) == 0
    assert await queue_due_refreshes(pool, CONFIG, now=T0 + datetime.timedelta(days=1)) == 1
    assert (await _queued(pool, daily), await _queued(pool, weekly), await _queued(pool, never)) == (1, 0, 0)
    jobs = await pool.fetch("SELECT payload, business_id FROM jobs WHERE kind = 'knowledge.crawl'")
    crawl = await pool.fetchval("SELECT id FROM kb_crawls WHERE source_id = $1 AND status = 'queued'", daily.id)
    assert [(j["payload"], j["business_id"]) for j in jobs] == [({"crawlId": str(crawl)}, tenant.business_id)]

    # Not again while that crawl is queued (or running), however late it gets.
    assert await queue_due_refreshes(pool, CONFIG, now=T0 + datetime.timedelta(days=3)) == 0
    assert await queue_due_refreshes(pool, CONFIG, now=T0 + datetime.timedelta(days=7)) == 1
    assert await _queued(pool, weekly) == 1 and await _queued(pool, never) == 0


async def test_a_manual_sync_restarts_the_period(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    daily = await _source(pool, tenant.business_id, "daily")
    synced_at = T0 + datetime.timedelta(hours=20)
    async with transaction(pool) as conn:
        crawl_id = await store.queue_crawl(conn, daily, max_running=3, now=synced_at,
                                           manual_cooldown=datetime.timedelta(minutes=15))
    await store.finish_crawl(pool, crawl_id, "completed", now=synced_at)
    assert await queue_due_refreshes(pool, CONFIG, now=T0 + datetime.timedelta(days=1, hours=1)) == 0
    assert await queue_due_refreshes(pool, CONFIG, now=synced_at + datetime.timedelta(days=1)) == 1


async def test_a_business_at_its_running_crawls_limit_waits_for_a_later_run(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    sources = [await _source(pool, tenant.business_id, "daily") for _ in range(4)]
    later = T0 + datetime.timedelta(days=1)
    assert await queue_due_refreshes(pool, CONFIG, now=later) == 3
    await pool.execute("UPDATE kb_crawls SET status = 'completed' WHERE status = 'queued'")
    assert await queue_due_refreshes(pool, CONFIG, now=later + datetime.timedelta(minutes=15)) == 1
    assert [await _queued(pool, s) for s in sources].count(1) == 1


@pytest.fixture
async def second_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """Another process's pool on the same database."""
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=3, init=init_connection)
    assert created is not None
    yield created
    await created.close()


async def test_the_recurring_refresh_queues_a_due_crawl_once_across_two_runners(
        pool: asyncpg.Pool, second_pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    daily = await _source(pool, tenant.business_id, "daily")
    clock = ManualClock(T0)
    config = JobsConfig(poll_interval_seconds=0.05)
    runners = [Runner(db, {REFRESH_KIND: RefreshDue(db, CONFIG, clock=clock)}, config, recurring=RECURRING,
                      clock=clock, worker_id=name) for db, name in ((pool, "web"), (second_pool, "worker"))]
    await asyncio.gather(*(r.run_once() for r in runners))  # the schedule is first seen: nothing runs
    clock.advance(hours=12)
    await asyncio.gather(*(r.run_once() for r in runners))
    assert await _queued(pool, daily) == 0

    clock.advance(hours=12, minutes=15)
    await asyncio.gather(*(r.run_once() for r in runners for _ in range(2)))
    assert await _queued(pool, daily) == 1
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'knowledge.crawl'") == 1
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = $1 AND status = 'succeeded'",
                               REFRESH_KIND) == 2


async def test_two_refresh_runs_at_once_queue_each_crawl_once(
        pool: asyncpg.Pool, second_pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    sources = [await _source(pool, tenant.business_id, "weekly") for _ in range(3)]
    clock = ManualClock(T0 + datetime.timedelta(days=8))
    job = Job(1, REFRESH_KIND, {}, None, None, 1, clock.now)
    await asyncio.gather(RefreshDue(pool, CONFIG, clock=clock)(job), RefreshDue(second_pool, CONFIG, clock=clock)(job))
    assert [await _queued(pool, s) for s in sources] == [1, 1, 1]
