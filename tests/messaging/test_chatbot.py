"""The dashboard's test chat: authenticated, scoped to the business, stored like any chat."""

from __future__ import annotations

import uuid

import asyncpg

from agent_server.config import Settings
from tests.conftest import MakeBusiness, MakeClient
from tests.fake_openai import FakeOpenAi
from tests.messaging.conftest import Shop


async def test_member_chats_with_their_agent_and_sees_token_usage(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    fake_openai.state.script("Hello from the test chat.", "Still here.")
    client = await make_client(messaging_settings)
    resp = await client.post("/api/chatbot", json={"chatbotId": str(shop.agent_id), "message": "hi"},
                             headers=shop.headers)
    body = await resp.json()
    assert resp.status == 200, body
    assert body["reply"] == "Hello from the test chat." and body["answeredBy"] == "llm"
    assert body["usage"]["promptTokens"] > 0 and body["usage"]["completionTokens"] > 0
    again = await client.post("/api/chatbot", headers=shop.headers, json={
        "chatbotId": str(shop.agent_id), "message": "still there?", "conversationId": body["conversationId"]})
    assert (await again.json())["conversationId"] == body["conversationId"]
    assert await pool.fetchval("SELECT origin FROM widget_conversations") == "dashboard"
    assert await pool.fetchval("SELECT count(*) FROM widget_messages") == 4


async def test_another_business_agent_is_not_found_and_anonymous_is_unauthorized(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        make_business: MakeBusiness) -> None:
    stranger = await make_business("Other Co")
    client = await make_client(messaging_settings)
    payload = {"chatbotId": str(shop.agent_id), "message": "hi"}
    assert (await client.post("/api/chatbot", json=payload, headers=stranger.headers)).status == 404
    assert (await client.post("/api/chatbot", json=payload)).status == 401
    missing = {"chatbotId": str(uuid.uuid4()), "message": "hi"}
    assert (await client.post("/api/chatbot", json=missing, headers=shop.headers)).status == 404
    assert fake_openai.state.chat_requests == []
