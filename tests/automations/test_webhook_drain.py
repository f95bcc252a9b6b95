"""A drain trades finished sends for due messages without the endpoint's lock: what it must still see between them."""

from __future__ import annotations

import asyncio
import datetime

import asyncpg
import pytest

from automations import webhook_endpoints, webhook_outbox
from automations.webhook_delivery import SweepWebhooks
from automations.webhook_outbox import FORM_SUBMITTED, SWEEP_KIND
from jobs.queue import Job
from tests.automations.webhook_world import World, world
from tests.conftest import MakeBusiness

pytestmark = pytest.mark.timeout(60)
JOB = Job(id=0, kind=SWEEP_KIND, payload={}, business_id=None, dedupe_key=None, attempt=1,
          run_at=datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC))


async def first_request(w: World) -> None:
    async with asyncio.timeout(5):
        while not w.receiver.received:
            await asyncio.sleep(0.01)


async def test_a_secret_rotated_mid_drain_signs_the_sends_that_follow(pool: asyncpg.Pool,
                                                                      make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id, max_in_flight=1) as w:
        endpoint = await w.endpoint("/in")
        w.receiver.script("/in", ["slow/0.5", "ok", "ok"])
        for _ in range(2):
            await w.submit()
        running = asyncio.create_task(w.runner.run_once())
        await first_request(w)
        new_secret = await webhook_endpoints.rotate_secret(pool, endpoint.id, tenant.business_id, now=w.clock())
        assert new_secret is not None
        await running
        first, second = w.receiver.received
        assert first.verifies(endpoint.secret) and not first.verifies(new_secret)
        assert second.verifies(new_secret) and second.verifies(endpoint.secret)
        statuses = await pool.fetch("SELECT status FROM webhook_messages WHERE business_id = $1", tenant.business_id)
        assert [s["status"] for s in statuses] == ["delivered", "delivered"]


async def test_an_endpoint_disabled_mid_drain_fails_the_messages_still_waiting(pool: asyncpg.Pool,
                                                                                make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id, max_in_flight=1) as w:
        endpoint = await w.endpoint("/in")
        w.receiver.script("/in", ["slow/0.5", "ok", "ok"])
        for _ in range(3):
            await w.submit()
        running = asyncio.create_task(w.runner.run_once())
        await first_request(w)
        await webhook_endpoints.update(pool, endpoint.id, tenant.business_id, url=None, event_types=None,
                                       form_ids=None, enabled=False, now=w.clock())
        await running
        assert len(w.receiver.received) == 1
        rows = await pool.fetch("SELECT status, last_error FROM webhook_messages WHERE business_id = $1"
                                " ORDER BY created_at", tenant.business_id)
        assert [r["status"] for r in rows] == ["delivered", "failed", "failed"]
        assert rows[1]["last_error"] == "the endpoint is disabled"


async def test_a_backlog_drains_through_trades_and_each_message_is_sent_once(pool: asyncpg.Pool,
                                                                              make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id) as w:
        endpoint = await w.endpoint("/ok")
        for _ in range(40):
            await w.submit()
        assert await w.runner.run_once() == 1
        assert len(w.receiver.received) == 40
        assert len({r.webhook_id for r in w.receiver.received}) == 40
        assert all(r.verifies(endpoint.secret) for r in w.receiver.received)
        attempts = await pool.fetch("SELECT a.attempt, a.outcome, m.status FROM webhook_attempts a"
                                    " JOIN webhook_messages m ON m.id = a.message_id WHERE m.business_id = $1",
                                    tenant.business_id)
        assert len(attempts) == 40
        assert {(a["attempt"], a["outcome"], a["status"]) for a in attempts} == {(1, "delivered", "delivered")}


async def test_a_message_committed_while_its_endpoint_drains_is_sent_by_that_drain_without_a_job_of_its_own(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id) as w:
        await w.endpoint("/in")
        w.receiver.script("/in", ["slow/0.5", "ok"])
        await w.submit()
        running = asyncio.create_task(w.runner.run_once())
        await first_request(w)
        await w.submit()
        assert await running == 1
        assert len(w.receiver.received) == 2
        assert await pool.fetchval("SELECT count(*) FROM jobs WHERE business_id = $1", tenant.business_id) == 1
        assert await pool.fetchval("SELECT count(*) FROM webhook_messages WHERE business_id = $1"
                                   " AND status = 'delivered'", tenant.business_id) == 2


async def test_a_message_committed_during_a_slow_send_goes_out_beside_it(pool: asyncpg.Pool,
                                                                         make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id) as w:
        await w.endpoint("/in")
        w.receiver.script("/in", ["slow/3", "ok"])
        await w.submit()
        running = asyncio.create_task(w.runner.run_once())
        await first_request(w)
        await w.submit()
        async with asyncio.timeout(2):
            while len(w.receiver.received) < 2:
                await asyncio.sleep(0.01)
        assert not running.done()
        await running


async def test_a_message_committed_after_its_endpoints_job_ran_dry_is_sent_after_the_sweep(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """Its job insert found the endpoint's job still running (so queued none), and it committed after that job's
    last look: the minutely sweep queues the endpoint's job again."""
    tenant = await make_business()
    async with world(pool, tenant.business_id) as w:
        endpoint = await w.endpoint("/in")
        w.receiver.script("/in", ["slow/0.5", "ok"])
        await w.submit()
        running = asyncio.create_task(w.runner.run_once())
        await first_request(w)
        async with pool.acquire() as conn:
            late = conn.transaction()
            await late.start()
            await webhook_outbox.enqueue(conn, business_id=tenant.business_id, event_type=FORM_SUBMITTED,
                                         data={"late": True}, now=w.clock())
            assert await running == 1
            await late.commit()
        assert len(w.receiver.received) == 1
        sweep = SweepWebhooks(pool, clock=w.clock)
        await sweep(JOB)
        assert await w.runner.run_once() == 0
        w.clock.advance(seconds=61)
        await sweep(JOB)
        assert await w.runner.run_once() == 1
        assert len(w.receiver.received) == 2
        assert all(r.verifies(endpoint.secret) for r in w.receiver.received)
        await sweep(JOB)
        assert await w.runner.run_once() == 0
