"""The portal's conversation list read page by page: every assigned agent's conversation of every channel once,
newest first, whatever the page size, the channel filter or ties in start times."""

from __future__ import annotations

import datetime
import random
import uuid

import asyncpg
import pytest

from agent_server import agents
from customers import portal
from tests.customers.conftest import Shop

T0 = datetime.datetime(2026, 11, 20, 12, 0, tzinfo=datetime.UTC)


async def _seed(pool: asyncpg.Pool, business_id: uuid.UUID, agent_ids: list[uuid.UUID]) -> None:
    """Conversations of each channel for each agent; a third start at the same instant as another."""
    rng = random.Random(7)
    for n in range(90):
        agent_id = agent_ids[n % len(agent_ids)]
        at = T0 - datetime.timedelta(minutes=rng.randrange(30) if n % 3 == 0 else n)
        kind = n % 4
        if kind == 0:
            await pool.execute("INSERT INTO widget_conversations (agent_id, business_id, created_at, updated_at)"
                               " VALUES ($1, $2, $3, $3)", agent_id, business_id, at)
        elif kind == 1:
            await pool.execute("INSERT INTO calls (call_sid, business_id, agent_id, from_number, to_number, started_at)"
                               " VALUES ($1, $2, $3, '+15550001111', '+15550002222', $4)",
                               f"CA{uuid.uuid4().hex}", business_id, agent_id, at)
        else:
            await pool.execute(
                "INSERT INTO conversation_outcomes (id, business_id, agent_id, channel, contact_address, first_message_at,"
                " last_message_at, ended_at, end_reason) VALUES ($1, $2, $3, $4, '+15550003333', $5, $5, $5, 'timeout')",
                uuid.uuid4(), business_id, agent_id, "sms" if kind == 2 else "whatsapp", at)


async def _walk(pool: asyncpg.Pool, scope: portal.Scope, channel: portal.Channel | None,
                size: int) -> list[uuid.UUID]:
    seen: list[uuid.UUID] = []
    after = None
    start, end = T0 - datetime.timedelta(days=7), T0 + datetime.timedelta(seconds=1)
    while True:
        page = await portal.conversations(pool, scope, channel=channel, start=start, end=end, after=after,
                                          limit=size)
        seen += [c.id for c in page]
        if len(page) < size:
            return seen
        after = (page[-1].started_at, page[-1].id)


@pytest.mark.parametrize("size", [1, 7, 50])
async def test_pages_hold_every_assigned_conversation_once_newest_first(pool: asyncpg.Pool, shop: Shop,
                                                                         size: int) -> None:
    third = await agents.create_agent(pool, shop.business_id, "Bakery weekends")
    await _seed(pool, shop.business_id, [shop.agent_1, shop.agent_2, third])
    customer = await pool.fetchval("INSERT INTO customers (business_id, email, full_name, status)"
                                   " VALUES ($1, 'maria@example.com', 'Maria', 'active') RETURNING id", shop.business_id)
    await pool.executemany("INSERT INTO customer_agent_assignments (customer_id, agent_id) VALUES ($1, $2)",
                           [(customer, shop.agent_1), (customer, third)])
    scope = portal.Scope(customer, shop.business_id)
    for channel in (None, "widget", "voice", "sms", "whatsapp"):
        expected = [r["id"] for r in await pool.fetch(
            f"{portal.CONVERSATIONS} SELECT id FROM conv WHERE $4::text IS NULL OR channel = $4"
            " ORDER BY started_at DESC, id DESC", customer, shop.business_id, None, channel)]
        assert expected and (channel is not None or len(expected) > size), channel
        assert await _walk(pool, scope, channel, size) == expected, channel
    assert {c.agent_id for c in await portal.conversations(
        pool, scope, channel=None, start=T0 - datetime.timedelta(days=7), end=T0 + datetime.timedelta(seconds=1),
        after=None, limit=100)} == {shop.agent_1, third}
