"""Each connection's DNS answer is checked before dialling: a name pointed inside is refused, also after it changes."""

from __future__ import annotations

import asyncpg
import pytest

from tests.automations.webhook_world import endpoint, world
from tests.conftest import MakeBusiness
from tests.knowledge.test_url_guard import StubResolver

INSIDE = ["127.0.0.1", "10.0.0.1", "169.254.169.254", "::1"]


@pytest.mark.parametrize("address", INSIDE)
async def test_a_name_resolving_inside_is_refused_before_connecting(pool: asyncpg.Pool, make_business: MakeBusiness,
                                                                   address: str) -> None:
    tenant = await make_business()
    resolver = StubResolver({"hooks.test": [address]})
    async with world(pool, tenant.business_id, resolver=resolver, allowed=()) as w:
        await endpoint(pool, tenant.business_id, f"http://hooks.test:{w.receiver.port}/ok")
        await w.submit()
        await w.runner.run_once()
        assert resolver.asked == ["hooks.test"]
        assert w.receiver.received == []
        message = await w.message()
        assert message["status"] == "pending" and message["last_status"] is None
        assert "refused" in message["last_error"] and address in message["last_error"]


async def test_an_ip_literal_inside_is_refused_without_asking_dns(pool: asyncpg.Pool,
                                                                  make_business: MakeBusiness) -> None:
    tenant = await make_business()
    resolver = StubResolver({})
    async with world(pool, tenant.business_id, resolver=resolver, allowed=()) as w:
        await w.endpoint("/ok")
        await w.submit()
        await w.runner.run_once()
        assert resolver.asked == [] and w.receiver.received == []
        assert "loopback" in (await w.message())["last_error"]


@pytest.mark.parametrize("address", INSIDE[1:])
async def test_a_name_repointed_inside_after_a_delivery_is_refused(pool: asyncpg.Pool, make_business: MakeBusiness,
                                                                   address: str) -> None:
    tenant = await make_business()
    table = {"hooks.test": ["127.0.0.1"]}
    resolver = StubResolver(table)
    async with world(pool, tenant.business_id, resolver=resolver) as w:
        await endpoint(pool, tenant.business_id, f"http://hooks.test:{w.receiver.port}/close")
        await w.submit()
        await w.runner.run_once()
        assert len(w.receiver.received) == 1
        table["hooks.test"] = [address]
        await w.submit()
        await w.runner.run_once()
        assert len(w.receiver.received) == 1
        assert resolver.asked == ["hooks.test", "hooks.test"]
        statuses = await pool.fetch("SELECT status, last_error FROM webhook_messages WHERE business_id = $1"
                                    " ORDER BY created_at", tenant.business_id)
        assert [s["status"] for s in statuses] == ["delivered", "pending"]
        assert address in statuses[1]["last_error"]
