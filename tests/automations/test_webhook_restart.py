"""A worker SIGKILLed in the middle of a send: after a restart the message is delivered, under the same webhook-id."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from automations import webhook_endpoints, webhook_outbox
from automations.webhook_outbox import FORM_SUBMITTED
from jobs.runner import utc_now
from tests.conftest import MakeBusiness
from tests.fake_webhook_receiver import FakeWebhookReceiver

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)


async def spawn(database_url: str) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "tests.automations.webhook_worker",
                                                database_url, cwd=ROOT, stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    async with asyncio.timeout(20):
        assert (await proc.stdout.readline()).strip() == b"ready"
    return proc


async def until(predicate: Callable[[], Awaitable[bool]], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not await predicate():
            await asyncio.sleep(0.02)


async def test_a_worker_killed_mid_send_delivers_after_restart_with_the_same_webhook_id(
        pool: asyncpg.Pool, database_url: str, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with FakeWebhookReceiver() as receiver:
        receiver.script("/in", ["slow/60", "ok"])
        _, secret = await webhook_endpoints.create(pool, tenant.business_id, url=receiver.url("/in"),
                                                   event_types=(FORM_SUBMITTED,), form_ids=(), enabled=True,
                                                   now=utc_now())
        await webhook_outbox.enqueue(pool, business_id=tenant.business_id, event_type=FORM_SUBMITTED,
                                     data={"form_id": "f1"})
        first = await spawn(database_url)

        async def received(n: int) -> bool:
            return len(receiver.received) >= n

        await until(lambda: received(1), 20)
        first.send_signal(signal.SIGKILL)
        await first.wait()
        second = await spawn(database_url)
        try:
            async def delivered() -> bool:
                return await pool.fetchval("SELECT status FROM webhook_messages WHERE business_id = $1",
                                           tenant.business_id) == "delivered"

            await until(delivered, 30)
        finally:
            second.send_signal(signal.SIGKILL)
            await second.wait()
        assert len(receiver.received) == 2
        assert len({r.webhook_id for r in receiver.received}) == 1
        assert all(r.verifies(secret) for r in receiver.received)
        attempts = await pool.fetchval("SELECT attempts FROM webhook_messages WHERE business_id = $1",
                                       tenant.business_id)
        assert attempts == 2
