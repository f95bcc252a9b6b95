"""Each SMS and widget reply keeps the agent version that wrote it; the visitor's own messages keep none (issue 22)."""

from __future__ import annotations

import asyncpg

from agent_server.config import Settings
from tests.conftest import PUBLIC_URL, MakeClient
from tests.fake_openai import FakeOpenAi
from tests.messaging.conftest import Shop
from tests.messaging.test_twilio_sms import text

ORIGIN = {"Origin": PUBLIC_URL}


async def test_sms_replies_store_the_version_that_answered_them(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    fake_openai.state.script("Tuesday works.", "Wednesday works too.")
    client = await make_client(messaging_settings)
    assert await text(client, "Can I come Tuesday?") == "Tuesday works."
    resp = await client.patch(f"/api/agents/{shop.agent_id}", json={"systemPrompt": "Be brief."},
                              headers=shop.headers)
    assert resp.status == 200
    assert await text(client, "And Wednesday?") == "Wednesday works too."
    rows = await pool.fetch("SELECT direction, agent_version FROM sms_messages ORDER BY created_at, id")
    assert [(r["direction"], r["agent_version"]) for r in rows] == [
        ("inbound", None), ("outbound", 1), ("inbound", None), ("outbound", 2)]


async def test_widget_replies_store_the_version_that_answered_them(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    fake_openai.state.script("Yes, we take new patients.")
    client = await make_client(messaging_settings)
    await client.patch(f"/api/agents/{shop.agent_id}", json={"greeting": "Hello!"}, headers=shop.headers)
    resp = await client.post(f"/api/widget/{shop.agent_id}/message", json={"text": "New patients?"}, headers=ORIGIN)
    assert resp.status == 200
    rows = await pool.fetch("SELECT role, agent_version FROM widget_messages ORDER BY created_at, id")
    assert [(r["role"], r["agent_version"]) for r in rows] == [("user", None), ("assistant", 2)]
