"""Token caps on every channel, with the OpenAI fake: served, cut, refused (no LLM request), FAQ still answered."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server.config import Settings
from billing.pricing import chat_charge
from llm_usage.token_config import LimitsConfig
from conversations.widget_messages import Done, Error
from tests.conftest import MakeClient
from tests.fake_openai import FakeOpenAi
from tests.messaging.conftest import Shop, messaging_settings, shop  # noqa: F401  (fixtures)
from tests.messaging.test_paid_replies import drain_wallet
from tests.messaging.test_twilio_sms import text
from tests.messaging.test_widget import ORIGIN, ask, socket_path

Client = TestClient[web.Request, web.Application]
DAILY = "Daily token limit reached. Please try again tomorrow."
MONTHLY = "Monthly token limit reached. Please upgrade your plan."


async def caps(client: Client, shop: Shop, **changes: Any) -> dict[str, Any]:
    resp = await client.put(f"/api/agents/{shop.agent_id}/token-settings", json=changes, headers=shop.headers)
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def post(client: Client, shop: Shop, question: str) -> Any:
    return await client.post(f"/api/widget/{shop.agent_id}/message", headers=ORIGIN, json={"text": question})


def prompt_tokens(request: dict[str, Any]) -> int:
    """The cap's estimate of a request's prompt: three characters a token."""
    return math.ceil(sum(len(str(m.get("content") or "")) for m in request["messages"]) / 3)


async def test_remaining_equal_to_need_is_served_one_less_cuts_max_tokens_then_refused_by_day_and_month(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    client = await make_client(messaging_settings)
    sent = fake_openai.state.chat_requests
    assert (await post(client, shop, "Question number 01?")).status == 200
    assert sent[-1]["max_tokens"] == 1000
    prompt = prompt_tokens(sent[-1])  # the same for every question of this length in a new conversation

    used = (await caps(client, shop))["used"]["day"]
    assert used > 0
    await caps(client, shop, dailyTokenLimit=used + prompt + 1000)
    assert (await post(client, shop, "Question number 02?")).status == 200
    assert len(sent) == 2 and sent[-1]["max_tokens"] == 1000

    used = (await caps(client, shop))["used"]["day"]
    await caps(client, shop, dailyTokenLimit=used + prompt + 999)
    assert (await post(client, shop, "Question number 03?")).status == 200
    assert len(sent) == 3 and sent[-1]["max_tokens"] == 999

    used = (await caps(client, shop))["used"]["day"]
    await caps(client, shop, dailyTokenLimit=used + prompt + 63)
    resp = await post(client, shop, "Question number 04?")
    assert resp.status == 429 and len(sent) == 3
    error = (await resp.json())["error"]
    assert (error["code"], error["message"], error["period"]) == ("TOKEN_LIMIT_REACHED", DAILY, "day")
    assert error["resetsAt"] == (await caps(client, shop))["resetsAt"]["day"]

    month = (await caps(client, shop, dailyTokenLimit=None))["used"]["month"]
    await caps(client, shop, monthlyTokenLimit=month + prompt + 63)
    resp = await post(client, shop, "Question number 05?")
    assert resp.status == 429 and len(sent) == 3
    error = (await resp.json())["error"]
    assert (error["message"], error["period"]) == (MONTHLY, "month")
    # Neither the refused replies' wallet holds nor their token reservations stay behind.
    assert await pool.fetchval("SELECT count(*) FROM holds WHERE status = 'active'") == 0
    assert await pool.fetchval("SELECT sum(reserved) FROM token_budgets") == 0


async def test_the_widget_socket_sends_an_error_frame_at_the_cap_and_still_answers_the_faq(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    client = await make_client(messaging_settings)
    await caps(client, shop, dailyTokenLimit=0)
    async with client.ws_connect(socket_path(shop), headers=ORIGIN) as ws:
        refused = await ask(ws, "Can I book a cleaning?")
        faq = await ask(ws, "What are your opening hours?")
    assert refused == [Error("TOKEN_LIMIT_REACHED", DAILY)]
    assert isinstance(faq[-1], Done)
    assert await pool.fetchval("SELECT answered_by FROM widget_messages WHERE role = 'assistant'") == "faq"
    # The refused question was not kept: the conversation starts with the question that was answered.
    assert [r["text"] for r in await pool.fetch("SELECT text FROM widget_messages WHERE role = 'user'")] == [
        "What are your opening hours?"]
    assert fake_openai.state.chat_requests == []


async def test_a_widget_message_refused_at_the_cap_starts_no_conversation_and_mails_no_notice(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    """The turn decides: a message refused before any model was asked stores nothing, its conversation
    and the conversation-started email included (the POST and the socket alike)."""
    client = await make_client(messaging_settings)
    await caps(client, shop, dailyTokenLimit=0)
    tables = ("widget_conversations", "widget_messages", "email_outbox")
    before = [await pool.fetchval(f"SELECT count(*) FROM {t}") for t in tables]
    assert (await post(client, shop, "Can I book a cleaning?")).status == 429
    async with client.ws_connect(socket_path(shop), headers=ORIGIN) as ws:
        assert await ask(ws, "Can I book a cleaning?") == [Error("TOKEN_LIMIT_REACHED", DAILY)]
    assert [await pool.fetchval(f"SELECT count(*) FROM {t}") for t in tables] == before
    assert fake_openai.state.chat_requests == []


async def test_the_dashboard_test_chat_answers_429_at_the_cap_and_keeps_no_conversation(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    client = await make_client(messaging_settings)
    await caps(client, shop, monthlyTokenLimit=10)
    before = await pool.fetchval("SELECT count(*) FROM widget_conversations")
    resp = await client.post("/api/chatbot", json={"chatbotId": str(shop.agent_id), "message": "Hello there"},
                              headers=shop.headers)
    assert resp.status == 429
    error = (await resp.json())["error"]
    assert (error["code"], error["message"], error["period"]) == ("TOKEN_LIMIT_REACHED", MONTHLY, "month")
    assert fake_openai.state.chat_requests == []
    assert await pool.fetchval("SELECT count(*) FROM widget_conversations") == before  # the refused start left none


async def test_a_texter_at_the_cap_is_told_once_per_period_and_the_faq_still_answers(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    client = await make_client(messaging_settings)
    await caps(client, shop, dailyTokenLimit=0)
    assert await text(client, "Can I book a cleaning?", sender="+14155550111") == DAILY
    assert await text(client, "Hello? Anyone?", sender="+14155550111") is None
    assert await text(client, "Can I book?", sender="whatsapp:+14155550122") == DAILY
    assert await text(client, "What are your opening hours?", sender="+14155550111") == (
        "We are open Monday to Friday, nine to five.")
    assert fake_openai.state.chat_requests == []
    # The refused texts were not charged: only the FAQ reply was.
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'sms_usage'") == 1
    assert await pool.fetchval("SELECT count(*) FROM holds WHERE status = 'active'") == 0


async def test_an_empty_wallet_frees_the_tokens_the_cap_reserved_first(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    client = await make_client(messaging_settings)
    await drain_wallet(pool, shop)
    assert (await post(client, shop, "Can I book a cleaning?")).status == 402
    assert await pool.fetchval("SELECT count(*) FROM token_reservations WHERE settled_at IS NULL") == 0
    assert await pool.fetchval("SELECT sum(used + reserved) FROM token_budgets") == 0
    assert fake_openai.state.chat_requests == []


async def test_a_chat_replys_wallet_hold_is_the_price_of_its_token_need(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    """The hold is sized from the need the cap reserved, not a fixed 4,000 tokens."""
    client = await make_client(messaging_settings)
    await caps(client, shop, maxOutputTokens=100)
    assert (await post(client, shop, "Can I book a cleaning?")).status == 200
    need = await pool.fetchval("SELECT amount FROM token_reservations")
    per_1k = messaging_settings.billing.chat_per_1k_tokens_minor
    held = await pool.fetchval("SELECT delta FROM hold_events WHERE kind = 'place'")
    assert need < 4000 and held == chat_charge(need, per_1k) > 0


async def test_the_limit_texts_come_from_the_limits_config(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
) -> None:
    limits = LimitsConfig(daily_text="Out of words for today.", monthly_text="Out of words this month.")
    client = await make_client(dataclasses.replace(messaging_settings, limits=limits))
    await caps(client, shop, dailyTokenLimit=0)
    assert await text(client, "Can I book a cleaning?", sender="+14155550111") == "Out of words for today."
    await caps(client, shop, dailyTokenLimit=None, monthlyTokenLimit=0)
    resp = await post(client, shop, "Can I book a cleaning?")
    assert resp.status == 429 and (await resp.json())["error"]["message"] == "Out of words this month."
