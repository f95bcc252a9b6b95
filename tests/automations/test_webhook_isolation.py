"""At most four sends in flight per endpoint, so a dead endpoint never delays a healthy one."""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import pytest

from automations import webhook_outbox
from automations.webhook_outbox import FORM_SUBMITTED
from tests.automations.webhook_world import world
from tests.conftest import MakeBusiness

pytestmark = pytest.mark.timeout(60)


async def test_a_dead_endpoint_never_delays_a_healthy_one(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    dead_form, healthy_form = uuid.uuid4(), uuid.uuid4()
    async with world(pool, tenant.business_id, timeout=10.0) as w:
        await w.endpoint("/slow/30", form_ids=(dead_form,))
        await w.endpoint("/ok", form_ids=(healthy_form,))
        for _ in range(30):
            await webhook_outbox.enqueue(pool, business_id=tenant.business_id, event_type=FORM_SUBMITTED,
                                         data={}, form_id=dead_form, now=w.clock())
        for _ in range(10):
            await webhook_outbox.enqueue(pool, business_id=tenant.business_id, event_type=FORM_SUBMITTED,
                                         data={}, form_id=healthy_form, now=w.clock())
        started = time.monotonic()
        async with w.runner.running(grace_seconds=0):
            async with asyncio.timeout(5):
                while len(w.receiver.on("/ok")) < 10:
                    await asyncio.sleep(0.01)
            healthy_done = time.monotonic() - started
            await asyncio.sleep(0.3)
            assert len(w.receiver.on("/slow/30")) == 4
        assert healthy_done < 5
        delivered = await pool.fetchval("SELECT count(*) FROM webhook_messages WHERE business_id = $1"
                                        " AND status = 'delivered'", tenant.business_id)
        assert delivered == 10


async def test_two_runners_together_keep_an_endpoint_at_four_sends(pool: asyncpg.Pool,
                                                                    make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id, timeout=10.0) as w, world(pool, tenant.business_id,
                                                                         timeout=10.0) as other:
        await w.endpoint("/slow/30")
        for _ in range(20):
            await w.submit()
        async with w.runner.running(grace_seconds=0), other.runner.running(grace_seconds=0):
            async with asyncio.timeout(5):
                while len(w.receiver.received) < 4:
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.5)
            assert len(w.receiver.received) == 4
            sending = await pool.fetchval("SELECT count(*) FROM webhook_messages WHERE status = 'sending'"
                                          " AND business_id = $1", tenant.business_id)
            assert sending == 4
