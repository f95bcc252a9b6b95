"""The website widget: streamed answers over the socket, resume, origins, limits, the plain POST."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server.config import Settings
from conversations.widget_messages import Delta, Done, Error, ServerMessage, UserMessage, parse_server_message
from tests.conftest import PUBLIC_URL, MakeClient
from tests.fake_openai import FakeOpenAi
from tests.messaging.conftest import Shop

Client = TestClient[web.Request, web.Application]
ORIGIN = {"Origin": PUBLIC_URL}


def with_messaging(settings: Settings, **changes: Any) -> Settings:
    return dataclasses.replace(settings, messaging=dataclasses.replace(settings.messaging, **changes))


async def ask(ws: aiohttp.ClientWebSocketResponse, text: str) -> list[ServerMessage]:
    """Send one message; collect what comes back up to `done` or an error."""
    await ws.send_str(UserMessage(text).encode().decode())
    received: list[ServerMessage] = []
    while True:
        frame = await ws.receive(timeout=10)
        assert frame.type == aiohttp.WSMsgType.TEXT, frame
        message = parse_server_message(frame.data)
        received.append(message)
        if isinstance(message, (Done, Error)):
            return received


def socket_path(shop: Shop, conversation_id: uuid.UUID | None = None) -> str:
    query = f"?conversationId={conversation_id}" if conversation_id else ""
    return f"/api/widget/{shop.agent_id}/ws{query}"


async def test_answer_streams_as_deltas_then_done_and_is_stored_with_usage(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    fake_openai.state.script("We can fit you in on Tuesday morning.")
    client = await make_client(messaging_settings)
    async with client.ws_connect(socket_path(shop), headers=ORIGIN) as ws:
        received = await ask(ws, "Can I get a cleaning this week?")
    deltas = [m.text for m in received if isinstance(m, Delta)]
    assert len(deltas) > 1 and "".join(deltas) == "We can fit you in on Tuesday morning."
    done = received[-1]
    assert isinstance(done, Done)
    row = await pool.fetchrow("SELECT m.text, m.prompt_tokens, m.completion_tokens, m.answered_by, c.origin"
                              " FROM widget_messages m JOIN widget_conversations c ON c.id = m.conversation_id"
                              " WHERE m.id = $1 AND c.id = $2", done.message_id, done.conversation_id)
    assert row is not None
    assert row["text"] == "We can fit you in on Tuesday morning." and row["answered_by"] == "llm"
    assert row["prompt_tokens"] > 0 and row["completion_tokens"] > 0 and row["origin"] == PUBLIC_URL


async def test_reconnect_with_conversation_id_resumes_the_conversation(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop) -> None:
    """After a drop, the same conversation continues and the model sees the earlier exchange."""
    fake_openai.state.script("Tuesday at ten is free.", "Booked for Tuesday at ten, Sam.")
    client = await make_client(messaging_settings)
    async with client.ws_connect(socket_path(shop), headers=ORIGIN) as ws:
        first = (await ask(ws, "Any slot on Tuesday?"))[-1]
    assert isinstance(first, Done)
    async with client.ws_connect(socket_path(shop, first.conversation_id), headers=ORIGIN) as ws:
        second = (await ask(ws, "Book it for Sam please"))[-1]
    assert isinstance(second, Done) and second.conversation_id == first.conversation_id
    messages = fake_openai.state.chat_requests[-1]["messages"]
    assert [(m["role"], m["content"]) for m in messages[1:]] == [
        ("user", "Any slot on Tuesday?"), ("assistant", "Tuesday at ten is free."),
        ("user", "Book it for Sam please")]


async def test_unknown_conversation_is_refused_so_the_widget_starts_afresh(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop) -> None:
    client = await make_client(messaging_settings)
    async with client.ws_connect(socket_path(shop, uuid.uuid4()), headers=ORIGIN) as ws:
        message = parse_server_message((await ws.receive(timeout=5)).data)
        assert message == Error("CONVERSATION_NOT_FOUND", "start a new conversation")
        assert (await ws.receive(timeout=5)).type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_faq_question_is_answered_without_an_llm_request(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    client = await make_client(messaging_settings)
    async with client.ws_connect(socket_path(shop), headers=ORIGIN) as ws:
        received = await ask(ws, "Where are you located?")
    assert received[0] == Delta("We are at 1 Market Street.") and isinstance(received[-1], Done)
    assert fake_openai.state.chat_requests == []
    assert await pool.fetchval("SELECT answered_by FROM widget_messages WHERE role = 'assistant'") == "faq"


async def test_disallowed_origin_is_refused_before_the_upgrade(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop, pool: asyncpg.Pool) -> None:
    """With no origins configured only PUBLIC_URL's origin may connect; configured origins replace it."""
    client = await make_client(messaging_settings)
    for headers in ({"Origin": "https://evil.example"}, {}):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(socket_path(shop), headers=headers)
        assert refused.value.status == 403
    resp = await client.get(f"/api/widget/{shop.agent_id}/config", headers={"Origin": "https://evil.example"})
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "ORIGIN_NOT_ALLOWED"
    resp = await client.post(f"/api/widget/{shop.agent_id}/message", json={"text": "hi"},
                             headers={"Origin": "https://evil.example"})
    assert resp.status == 403
    await pool.execute("UPDATE agents SET allowed_origins = '{https://shop.example}' WHERE id = $1", shop.agent_id)
    async with client.ws_connect(socket_path(shop), headers={"Origin": "https://shop.example"}):
        pass
    with pytest.raises(aiohttp.WSServerHandshakeError):
        await client.ws_connect(socket_path(shop), headers=ORIGIN)
    assert await pool.fetchval("SELECT count(*) FROM widget_conversations") == 0


async def test_rate_limit_per_conversation_and_per_ip(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop) -> None:
    """A burst beyond the limit is refused with RATE_LIMITED and no model request."""
    settings = with_messaging(messaging_settings, conversation_burst=2, conversation_messages_per_minute=1.0,
                              ip_burst=3, ip_messages_per_minute=1.0)
    client = await make_client(settings)
    async with client.ws_connect(socket_path(shop), headers=ORIGIN) as ws:
        assert isinstance((await ask(ws, "first question"))[-1], Done)
        assert isinstance((await ask(ws, "second question"))[-1], Done)
        refused = (await ask(ws, "third question"))[-1]
    assert isinstance(refused, Error) and refused.code == "RATE_LIMITED"
    assert len(fake_openai.state.chat_requests) == 2
    resp = await client.post(f"/api/widget/{shop.agent_id}/message", json={"text": "one more"}, headers=ORIGIN)
    assert resp.status == 200
    resp = await client.post(f"/api/widget/{shop.agent_id}/message", json={"text": "and another"}, headers=ORIGIN)
    assert resp.status == 429 and (await resp.json())["error"]["code"] == "RATE_LIMITED"
    assert len(fake_openai.state.chat_requests) == 3


async def test_oversized_and_malformed_messages_are_refused(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop) -> None:
    client = await make_client(with_messaging(messaging_settings, max_message_chars=50))
    async with client.ws_connect(socket_path(shop), headers=ORIGIN) as ws:
        too_long = (await ask(ws, "x" * 51))[-1]
        await ws.send_str('{"type": "hello"}')
        malformed = parse_server_message((await ws.receive(timeout=5)).data)
    assert isinstance(too_long, Error) and too_long.code == "MESSAGE_TOO_LONG"
    assert isinstance(malformed, Error) and malformed.code == "INVALID_MESSAGE"
    assert fake_openai.state.chat_requests == []


async def test_plain_post_answers_without_streaming_and_continues_a_conversation(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop) -> None:
    fake_openai.state.script("Yes, we take new patients.", "Bring your insurance card.")
    client = await make_client(messaging_settings)
    path = f"/api/widget/{shop.agent_id}/message"
    first = await client.post(path, json={"text": "Do you take new patients?"}, headers=ORIGIN)
    body = await first.json()
    assert first.status == 200 and body["text"] == "Yes, we take new patients."
    assert first.headers["Access-Control-Allow-Origin"] == PUBLIC_URL
    second = await client.post(path, json={"text": "What should I bring?", "conversationId": body["conversationId"]},
                               headers=ORIGIN)
    assert (await second.json())["conversationId"] == body["conversationId"]
    assert len(fake_openai.state.chat_requests[-1]["messages"]) == 4
    preflight = await client.options(path, headers={**ORIGIN, "Access-Control-Request-Method": "POST"})
    assert preflight.status == 204 and preflight.headers["Access-Control-Allow-Methods"] == "POST"


async def test_config_and_script_are_served_for_an_active_agent(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop) -> None:
    client = await make_client(messaging_settings)
    config = await (await client.get(f"/api/widget/{shop.agent_id}/config", headers=ORIGIN)).json()
    assert config["name"] == "Receptionist" and config["greeting"] == "Hi! How can I help?"
    assert config["allowedOrigins"] == [PUBLIC_URL] and config["theme"]["primaryColor"].startswith("#")
    script = await client.get(f"/api/widget/{shop.agent_id}/script.js")
    assert script.status == 200 and script.content_type == "application/javascript"
    assert "WebSocket" in await script.text()
    assert (await client.get(f"/api/widget/{uuid.uuid4()}/script.js")).status == 404


async def test_server_shutdown_closes_widget_sockets_with_going_away(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop) -> None:
    """The widget sees 1001 and reconnects elsewhere; the conversation id lets it resume."""
    client = await make_client(messaging_settings)
    ws = await client.ws_connect(socket_path(shop), headers=ORIGIN)
    await client.server.close()
    frame = await ws.receive(timeout=5)
    assert frame.type == aiohttp.WSMsgType.CLOSE and frame.data == aiohttp.WSCloseCode.GOING_AWAY
    await ws.close()


async def test_demo_page_embeds_the_demo_agents_widget(
        make_client: MakeClient, messaging_settings: Settings, pool: asyncpg.Pool) -> None:
    """`/demo` finds the agent `serve --demo` seeds (the demo user's business) and embeds its script."""
    from agent_server import agents, tenants

    client = await make_client(messaging_settings)
    assert (await client.get("/demo")).status == 404
    business_id = await tenants.create_business(pool, "Demo Dental")
    user_id = await tenants.create_user(pool, "demo@example.com")
    await tenants.add_member(pool, business_id, user_id, "owner")
    agent_id = await agents.create_agent(pool, business_id, "Demo <receptionist>")
    page = await client.get("/demo")
    html = await page.text()
    assert page.status == 200 and f'src="/api/widget/{agent_id}/script.js"' in html
    assert "Demo &lt;receptionist&gt;" in html
