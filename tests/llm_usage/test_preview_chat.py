"""Preview (`POST /api/chatbot` with `preview`): the unsaved configuration answers, and only the bill is kept.

No conversation, message, answer-cache entry or token count; the wallet is held and charged and
one `llm_requests` row (channel `preview`) records the attempt.
"""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from agent_server import agents
from agent_server.config import Settings
from conversations import rate_limits
from conversations.gcra import Limit
from llm_usage import token_settings
from tests.conftest import MakeBusiness, MakeClient, fund_wallet
from tests.fake_openai import FakeOpenAi
from tests.messaging.conftest import Shop, messaging_settings, shop  # noqa: F401  (fixtures)
from tests.messaging.test_widget import ORIGIN

QUESTION = "Do you take walk-ins on Saturday?"
PREVIEW = {"systemPrompt": "You are Ziggy, the new receptionist of Corner Dental.", "model": "gpt-4o",
           "temperature": 0.9, "maxOutputTokens": 321,
           "faq": [{"question": "Do you have parking?", "answer": "Yes, behind the building."}]}
HISTORY = [{"role": "user", "text": "Hello there"}, {"role": "assistant", "text": "Hi! How can I help?"}]


async def preview(client: Any, shop: Shop, **extra: Any) -> tuple[int, dict[str, Any]]:  # noqa: F811
    body = {"chatbotId": str(shop.agent_id), "message": QUESTION, "preview": PREVIEW, "history": HISTORY, **extra}
    resp = await client.post("/api/chatbot", headers=shop.headers, json=body)
    return resp.status, await resp.json()


async def table_rows(pool: asyncpg.Pool) -> dict[str, int]:
    names = await pool.fetch("SELECT table_name FROM information_schema.tables"
                             " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
    return {r["table_name"]: await pool.fetchval(f'SELECT count(*) FROM "{r["table_name"]}"') for r in names}


async def test_a_preview_keeps_only_its_hold_charge_and_one_request_row(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    fake_openai.state.options.cached_tokens = 2
    fake_openai.state.script("Yes, walk-ins are welcome on Saturday mornings.")
    client = await make_client(messaging_settings)
    before = await table_rows(pool)
    status, body = await preview(client, shop)
    assert status == 200, body
    after = await table_rows(pool)
    grown = {name for name in after if after[name] != before.get(name)}
    # The bill: the hold and its events, the charge (its ledger entry, the usage detail and platform books rows every
    # charge writes) and the attempt's row; rate_limits holds the asking user's 30-previews-a-minute counter.
    assert grown == {"holds", "hold_events", "ledger_entries", "usage_details", "platform_entries", "llm_requests",
                     "rate_limits"}
    assert after["llm_requests"] - before["llm_requests"] == 1
    usage = body["usage"]
    assert body == {"conversationId": None, "reply": "Yes, walk-ins are welcome on Saturday mornings.",
                    "answeredBy": "llm", "model": "gpt-4o", "usage": usage}
    assert usage["cachedTokens"] == 2 and usage["estimated"] is False and usage["completionTokens"] > 0
    row = await pool.fetchrow("SELECT * FROM llm_requests")
    assert row is not None
    assert (row["channel"], row["conversation_id"], row["message_id"], row["served_model"], row["status"]) == (
        "preview", None, None, "gpt-4o", "ok")
    assert (row["input_tokens"], row["output_tokens"]) == (usage["promptTokens"], usage["completionTokens"])
    charged = await pool.fetchval("SELECT amount FROM ledger_entries WHERE idempotency_key = $1", row["ledger_key"])
    assert charged is not None and charged < 0


async def test_the_model_gets_the_unsaved_configuration_and_the_history(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    client = await make_client(messaging_settings)
    assert (await preview(client, shop))[0] == 200
    [sent] = fake_openai.state.chat_requests
    system = sent["messages"][0]["content"]
    assert system.startswith(PREVIEW["systemPrompt"]) and "Yes, behind the building." in system
    assert "receptionist of Corner Dental." not in system.replace(str(PREVIEW["systemPrompt"]), "")
    assert [(m["role"], m["content"]) for m in sent["messages"][1:]] == [
        ("user", "Hello there"), ("assistant", "Hi! How can I help?"), ("user", QUESTION)]
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == ("gpt-4o", 0.9, 321)
    saved = await agents.get_agent(pool, shop.agent_id)
    assert saved is not None and saved.model == "" and saved.system_prompt.startswith("You are the receptionist")


async def test_a_preview_neither_uses_nor_fills_the_answer_cache(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    client = await make_client(messaging_settings)
    resp = await client.post(f"/api/widget/{shop.agent_id}/message", headers=ORIGIN, json={"text": QUESTION})
    assert resp.status == 200
    again = await client.post(f"/api/widget/{shop.agent_id}/message", headers=ORIGIN, json={"text": QUESTION})
    assert (await again.json())["answeredBy"] == "cache"  # the widget's own answer is cached
    status, body = await preview(client, shop, preview={}, history=[])
    assert (status, body["answeredBy"]) == (200, "llm")
    assert len(fake_openai.state.chat_requests) == 2


async def test_spent_token_caps_still_preview(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    await token_settings.update(pool, shop.agent_id, {"daily_limit": 0, "monthly_limit": 0})
    client = await make_client(messaging_settings)
    widget = await client.post(f"/api/widget/{shop.agent_id}/message", headers=ORIGIN, json={"text": QUESTION})
    assert widget.status == 429
    status, body = await preview(client, shop)
    assert status == 200, body
    assert await pool.fetchval("SELECT coalesce(sum(used + reserved), 0) FROM token_budgets") == 0


async def test_an_empty_wallet_gets_402_and_asks_no_model(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, make_business: MakeBusiness,
        pool: asyncpg.Pool) -> None:
    tenant = await make_business("Empty Wallet Dental")
    agent_id = await agents.create_agent(pool, tenant.business_id, "Receptionist")
    client = await make_client(messaging_settings)
    resp = await client.post("/api/chatbot", headers=tenant.headers,
                             json={"chatbotId": str(agent_id), "message": QUESTION, "preview": PREVIEW})
    assert resp.status == 402 and (await resp.json())["error"]["code"] == "INSUFFICIENT_BALANCE"
    assert fake_openai.state.chat_requests == []
    assert await pool.fetchval("SELECT count(*) FROM llm_requests") == 0


async def test_thirty_previews_a_minute_per_user(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, make_business: MakeBusiness,
        pool: asyncpg.Pool) -> None:
    tenant = await make_business("Busy Dental")
    agent_id = await agents.create_agent(pool, tenant.business_id, "Receptionist")
    await fund_wallet(pool, tenant.business_id)
    limit = Limit(per_minute=30, burst=30)
    client = await make_client(messaging_settings)
    # Spend the user's minute right before asking (one comes back every 2 s, so not before the
    # app's start-up: under load that took longer than that).
    spent = 0
    while await rate_limits.allow(pool, rate_limits.Scope.PREVIEW_USER, str(tenant.user_id), limit):
        spent += 1
    assert spent >= 30
    resp = await client.post("/api/chatbot", headers=tenant.headers,
                             json={"chatbotId": str(agent_id), "message": QUESTION, "preview": {}})
    assert resp.status == 429 and (await resp.json())["error"]["code"] == "RATE_LIMITED"
    assert fake_openai.state.chat_requests == []


async def test_bad_preview_input_is_refused_as_the_agent_edit_would_be(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    client = await make_client(messaging_settings)
    for extra in ({"preview": {"temperature": 3}}, {"preview": {"maxOutputTokens": 4001}},
                  {"history": HISTORY * 11}, {"conversationId": str(uuid.uuid4())}):
        status, _ = await preview(client, shop, **extra)
        assert status == 422, extra
    resp = await client.post("/api/chatbot", headers=shop.headers,
                             json={"chatbotId": str(shop.agent_id), "message": QUESTION, "history": HISTORY})
    assert resp.status == 422
    assert fake_openai.state.chat_requests == []
    assert await pool.fetchval("SELECT count(*) FROM holds") == 0
