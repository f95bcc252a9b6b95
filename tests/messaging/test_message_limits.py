"""Shared abuse limits at the routes: widget messages per conversation and IP, inbound texts per sender and number."""

from __future__ import annotations

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server.config import Settings
from tests.conftest import MakeClient
from tests.fake_openai import FakeOpenAi
from tests.messaging.conftest import OUR_NUMBER, Shop
from tests.messaging.test_twilio_sms import SENDER, stored, text
from tests.messaging.test_widget import ORIGIN, with_messaging

Client = TestClient[web.Request, web.Application]


async def refusals(client: Client, scope: str) -> float:
    """`agent_messages_rate_limited_total` for one scope, from /metrics."""
    body = await (await client.get("/metrics")).text()
    prefix = f'agent_messages_rate_limited_total{{scope="{scope}"}} '
    return next((float(line[len(prefix):]) for line in body.splitlines() if line.startswith(prefix)), 0.0)


async def post(client: Client, shop: Shop, forwarded_for: str | None = None, message: str = "hello") -> int:
    """One widget message in a new conversation; the response status."""
    headers = dict(ORIGIN) | ({"X-Forwarded-For": forwarded_for} if forwarded_for is not None else {})
    resp = await client.post(f"/api/widget/{shop.agent_id}/message", json={"text": message}, headers=headers)
    return resp.status


async def test_texts_over_the_sender_limit_are_stored_but_get_no_model_call_and_no_reply(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    settings = with_messaging(messaging_settings, sms_sender_burst=2, sms_sender_messages_per_minute=1.0)
    client = await make_client(settings)
    fake_openai.state.script("First answer.", "Second answer.")
    assert await text(client, "one") == "First answer."
    assert await text(client, "two") == "Second answer."
    assert await text(client, "three") is None
    assert len(fake_openai.state.chat_requests) == 2
    assert (await stored(pool))[-1] == ("inbound", SENDER, "three", "received")
    assert await refusals(client, "sms_sender") == 1.0
    # Another sender to the same number has a budget of its own.
    assert await text(client, "hello", sender="+14155550777") is not None


async def test_a_sender_over_the_limit_can_still_opt_out(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop, pool: asyncpg.Pool) -> None:
    client = await make_client(with_messaging(messaging_settings, sms_sender_burst=1,
                                              sms_sender_messages_per_minute=1.0))
    await text(client, "hi")
    assert await text(client, "hi again") is None
    await text(client, "STOP")
    assert await pool.fetchval("SELECT count(*) FROM sms_opt_outs WHERE sender = $1", SENDER) == 1


async def test_the_business_number_limit_counts_every_sender_together(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    client = await make_client(with_messaging(messaging_settings, sms_number_burst=3,
                                              sms_number_messages_per_minute=1.0))
    # Each a different question: a repeated first text would be answered from the answer cache, without the model.
    answered = [await text(client, f"hello {i}", sender=f"+1415555080{i}") for i in range(5)]
    assert [a is not None for a in answered] == [True, True, True, False, False]
    assert len(fake_openai.state.chat_requests) == 3
    assert await pool.fetchval("SELECT count(*) FROM sms_messages WHERE direction = 'inbound'") == 5
    assert await refusals(client, "sms_number") == 2.0
    # WhatsApp to the same number shares its budget.
    assert await text(client, "hello", sender="whatsapp:+14155550900", to=f"whatsapp:{OUR_NUMBER}") is None


async def test_widget_limits_are_shared_by_two_server_processes(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop) -> None:
    """Two apps on one database stand in for `serve --workers 2`: the IP's burst is spent across both."""
    settings = with_messaging(messaging_settings, ip_burst=3, ip_messages_per_minute=1.0)
    first, second = await make_client(settings), await make_client(settings)
    # Each a different question: a repeated first message would be answered from the answer cache.
    clients = (first, second, first, second)
    statuses = [await post(client, shop, message=f"hello {i}") for i, client in enumerate(clients)]
    assert statuses == [200, 200, 200, 429]
    assert len(fake_openai.state.chat_requests) == 3
    assert await refusals(second, "widget_ip") == 1.0


@pytest.mark.parametrize(("hops", "same_client", "other_client"), [
    # No trusted proxy: X-Forwarded-For is the visitor's own claim, so only the socket peer counts.
    (0, ["1.1.1.1", "2.2.2.2"], None),
    # One proxy: the rightmost address is what it saw; anything left of it is spoofable.
    (1, ["6.6.6.6, 1.1.1.1", "7.7.7.7, 1.1.1.1"], "6.6.6.6, 2.2.2.2"),
    # Two proxies: the second address from the right.
    (2, ["6.6.6.6, 1.1.1.1, 10.0.0.1", "1.1.1.1, 10.0.0.2"], "1.1.1.1, 2.2.2.2, 10.0.0.1"),
])
async def test_the_ip_limit_keys_on_the_address_the_trusted_proxies_saw(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop, hops: int, same_client: list[str],
        other_client: str | None) -> None:
    settings = with_messaging(messaging_settings, ip_burst=1, ip_messages_per_minute=1.0, forwarded_for_hops=hops)
    client = await make_client(settings)
    first, again = same_client
    assert await post(client, shop, first) == 200
    assert await post(client, shop, again) == 429
    if other_client is not None:
        assert await post(client, shop, other_client) == 200
    else:
        assert await post(client, shop) == 429
