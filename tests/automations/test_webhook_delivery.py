"""Delivery on the job runner: the retry schedule, one webhook-id, 410, no redirects, Retry-After, the read cap."""

from __future__ import annotations

import asyncio
import datetime
import json

import asyncpg
import pytest

from automations import webhook_endpoints
from automations.webhook_signing import SCHEDULE
from tests.automations.webhook_world import world
from tests.conftest import MakeBusiness

pytestmark = pytest.mark.timeout(60)


async def test_a_2xx_is_delivered_with_a_signature_standardwebhooks_accepts(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id) as w:
        _, secret = await webhook_endpoints.create(pool, tenant.business_id, url=w.receiver.url("/ok"),
                                                   event_types=("form.submitted",), form_ids=(), enabled=True,
                                                   now=w.clock())
        await w.submit({"form_id": "f1", "submitted_data": {"email": "ann@example.com"}})
        await w.runner.run_once()
        (request,) = w.receiver.received
        assert request.verify_now(secret)["data"]["submitted_data"] == {"email": "ann@example.com"}
        message = await w.message()
        assert (message["status"], message["attempts"], message["last_status"]) == ("delivered", 1, 204)
        assert request.body == bytes(message["body"])
        assert request.webhook_id == f"msg_{message['id'].hex}"


async def test_attempts_follow_the_schedule_with_one_webhook_id_then_the_message_fails(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id) as w:
        endpoint = await w.endpoint("/500")
        await w.submit()
        sent_at = []
        while (due := await w.next_run_at()) is not None:
            w.clock.now = max(w.clock.now, due)
            sent_at.append(w.clock.now)
            assert await w.runner.run_once() == 1
        waits = [later - earlier for earlier, later in zip(sent_at, sent_at[1:])]
        assert len(waits) == len(SCHEDULE)
        for wait, planned in zip(waits, SCHEDULE):
            assert planned * 0.8 <= wait <= planned * 1.2
        assert len({r.webhook_id for r in w.receiver.received}) == 1
        assert all(r.verifies(endpoint.secret) for r in w.receiver.received)
        assert len({r.body for r in w.receiver.received}) == 1
        message = await w.message()
        assert (message["status"], message["attempts"], message["last_status"]) == ("failed", 8, 500)
        attempts = await pool.fetch("SELECT attempt, status_code, outcome FROM webhook_attempts"
                                    " WHERE message_id = $1 ORDER BY id", message["id"])
        assert [a["attempt"] for a in attempts] == list(range(1, 9))
        assert [a["outcome"] for a in attempts] == ["retry"] * 7 + ["failed"]


async def test_a_410_disables_the_endpoint_and_nothing_more_is_queued_for_it(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id) as w:
        endpoint = await w.endpoint("/410")
        await w.submit()
        await w.runner.run_once()
        found = await webhook_endpoints.get(pool, endpoint.id, tenant.business_id)
        assert found is not None and not found.enabled and found.disabled_reason
        assert (await w.message())["status"] == "failed"
        assert await w.submit() == 0
        assert await w.next_run_at() is None


async def test_a_redirect_is_a_failure_and_is_never_followed(pool: asyncpg.Pool,
                                                              make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id) as w:
        await w.endpoint("/301")
        await w.submit()
        await w.runner.run_once()
        assert [r.path for r in w.receiver.received] == ["/301"]
        message = await w.message()
        assert (message["status"], message["last_status"]) == ("pending", 301)


async def test_retry_after_is_honoured_over_a_shorter_scheduled_wait(pool: asyncpg.Pool,
                                                                     make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id) as w:
        await w.endpoint("/429/3600")
        await w.submit()
        await w.runner.run_once()
        due = await w.next_run_at()
        assert due is not None and due - w.clock.now >= datetime.timedelta(seconds=3600)
        w.clock.advance(seconds=30)
        assert await w.runner.run_once() == 0
        assert len(w.receiver.received) == 1


async def test_a_5_mb_answer_is_read_only_to_the_cap_and_the_connection_dropped(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id) as w:
        await w.endpoint("/5mb")
        await w.submit()
        await w.runner.run_once()
        message = await w.message()
        assert message["status"] == "delivered"
        assert "longer than 65536 bytes" in message["last_error"]
        async with asyncio.timeout(5):
            while w.receiver.big_answers_aborted == 0:
                await asyncio.sleep(0.01)


@pytest.mark.parametrize("path, error", [("/reset", "ServerDisconnectedError"), ("/slow/5", "no answer within")])
async def test_a_reset_or_a_timeout_is_an_attempt_to_retry(pool: asyncpg.Pool, make_business: MakeBusiness,
                                                           path: str, error: str) -> None:
    tenant = await make_business()
    async with world(pool, tenant.business_id, timeout=0.3) as w:
        await w.endpoint(path)
        await w.submit()
        await w.runner.run_once()
        message = await w.message()
        assert message["status"] == "pending" and message["last_status"] is None
        assert error in message["last_error"]
        assert json.loads(message["body"])["type"] == "form.submitted"
