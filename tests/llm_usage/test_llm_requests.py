"""A row per LLM attempt (`llm_requests`) on every chat channel, written with the reply's charge and pointing at it."""

from __future__ import annotations

import uuid
from typing import Any, cast

import asyncpg
import pytest

from agent_server.config import Settings
from agent_server.reply_billing import WalletReplyPayment
from billing.config import BillingConfig
from llm_usage.requests import Attempt, Channel, RequestContext, RequestLog
from tests.conftest import MakeBusiness, MakeClient, fund_wallet
from tests.fake_openai import FakeOpenAi, ScriptedReply
from tests.messaging.conftest import OUR_NUMBER, Shop, messaging_settings, shop  # noqa: F401  (fixtures)
from tests.messaging.test_twilio_sms import SENDER, text
from tests.messaging.test_widget import ORIGIN


async def rows(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch("SELECT * FROM llm_requests ORDER BY id")]


async def widget_post(client: Any, shop: Shop, question: str) -> tuple[int, dict[str, Any]]:  # noqa: F811
    resp = await client.post(f"/api/widget/{shop.agent_id}/message", headers=ORIGIN, json={"text": question})
    return resp.status, await resp.json()


async def test_a_widget_reply_writes_its_attempt_with_tokens_cost_and_the_charging_entry(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    fake_openai.state.options.cached_tokens = 3
    fake_openai.state.script("Cleanings are on Tuesdays and Thursdays.")
    client = await make_client(messaging_settings)
    status, body = await widget_post(client, shop, "When do you do cleanings?")
    assert status == 200, body
    [row] = await rows(pool)
    message = await pool.fetchrow("SELECT prompt_tokens, completion_tokens FROM widget_messages WHERE id = $1",
                                  uuid.UUID(body["messageId"]))
    user = await pool.fetchrow("SELECT id, conversation_id FROM widget_messages WHERE role = 'user'")
    assert message is not None and user is not None
    assert (row["business_id"], row["agent_id"], row["agent_version"], row["channel"]) == (
        shop.business_id, shop.agent_id, 1, "widget")
    assert (row["conversation_id"], row["message_id"], row["call_sid"]) == (user["conversation_id"], user["id"], None)
    assert (row["requested_model"], row["served_model"], row["attempt"], row["status"], row["http_status"]) == (
        "gpt-4o-mini", "gpt-4o-mini", 1, "ok", 200)
    assert (row["input_tokens"], row["cached_tokens"], row["output_tokens"], row["estimated"]) == (
        message["prompt_tokens"], 3, message["completion_tokens"], False)
    exact = (row["input_tokens"] - 3) * 150 + 3 * 150 + row["output_tokens"] * 600
    assert row["provider_cost_micros"] == -(-exact // 1000)
    assert row["first_token_ms"] is not None and row["first_token_ms"] >= 0
    entry = await pool.fetchrow("SELECT kind, amount FROM ledger_entries WHERE idempotency_key = $1", row["ledger_key"])
    assert entry is not None and entry["kind"] == "chat_usage" and entry["amount"] < 0


async def test_a_reply_with_no_usage_reported_is_flagged_estimated(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    fake_openai.state.options.send_usage = False
    fake_openai.state.script("We are open until six.")
    client = await make_client(messaging_settings)
    assert (await widget_post(client, shop, "Open late tonight?"))[0] == 200
    [row] = await rows(pool)
    assert row["estimated"] and row["output_tokens"] == -(-len("We are open until six.") // 4)


async def test_a_failed_reply_is_an_error_row_that_charged_nothing(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    fake_openai.state.script(ScriptedReply(status=400))
    client = await make_client(messaging_settings)
    status, _ = await widget_post(client, shop, "Can you book me in?")
    assert status >= 500
    [row] = await rows(pool)
    assert (row["status"], row["http_status"], row["ledger_key"], row["input_tokens"]) == ("error", 400, None, 0)
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'chat_usage'") == 0


async def test_an_unlisted_model_is_unpriced(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE agents SET model = 'o9-preview' WHERE id = $1", shop.agent_id)
    client = await make_client(messaging_settings)
    assert (await widget_post(client, shop, "Do you whiten teeth?"))[0] == 200
    [row] = await rows(pool)
    assert (row["served_model"], row["provider_cost_micros"]) == ("o9-preview", None) and row["input_tokens"] > 0


async def test_sms_whatsapp_and_dashboard_replies_are_rows_of_their_channel(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    client = await make_client(messaging_settings)
    assert await text(client, "Can I come Tuesday?")
    assert await text(client, "hi there", sender="whatsapp:" + SENDER, to="whatsapp:" + OUR_NUMBER)
    resp = await client.post("/api/chatbot", json={"chatbotId": str(shop.agent_id), "message": "hi"},
                             headers=shop.headers)
    assert resp.status == 200
    found = await rows(pool)
    assert [r["channel"] for r in found] == ["sms", "whatsapp", "dashboard"]
    inbound = await pool.fetch("SELECT id FROM sms_messages WHERE direction = 'inbound' ORDER BY created_at, id")
    assert [r["message_id"] for r in found[:2]] == [r["id"] for r in inbound]
    keys = [r["ledger_key"] for r in found]
    charged = await pool.fetch("SELECT idempotency_key FROM ledger_entries WHERE idempotency_key = ANY($1)", keys)
    assert len(charged) == 3 and all(r["status"] == "ok" for r in found)


async def test_an_answer_cache_hit_is_a_row_without_tokens(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    client = await make_client(messaging_settings)
    for _ in range(2):
        assert (await widget_post(client, shop, "Do you see children?"))[0] == 200
    asked, hit = await rows(pool)
    assert (asked["answer_cache_hit"], hit["answer_cache_hit"]) == (False, True)
    assert (hit["attempt"], hit["input_tokens"], hit["output_tokens"], hit["provider_cost_micros"]) == (0, 0, 0, 0)
    assert len(fake_openai.state.chat_requests) == 1


async def test_the_rows_and_the_charge_commit_together_or_not_at_all(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """A row the database refuses rolls the charge back with it: the hold stays for a retry or the sweeper."""
    tenant = await make_business("Atomic")
    await fund_wallet(pool, tenant.business_id)
    payment = WalletReplyPayment(pool, BillingConfig())
    attempt = [Attempt("gpt-4o-mini", "gpt-4o-mini", 1, "ok", 200, 900, 0, 100)]
    refused = RequestLog(RequestContext(tenant.business_id, None, None, cast(Channel, "fax")), attempt)
    handle = await payment.reserve(tenant.business_id, "chat", "chat:atomic")
    with pytest.raises(asyncpg.CheckViolationError):
        await payment.charge(handle, channel="chat", key="chat:atomic", prompt_tokens=900, completion_tokens=100,
                             requests=refused)
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE idempotency_key = 'chat:atomic'") == 0
    assert await pool.fetchval("SELECT status FROM holds WHERE idempotency_key = 'chat:atomic:hold'") == "active"
    good = RequestLog(RequestContext(tenant.business_id, None, None, "widget"), attempt)
    charged = await payment.charge(handle, channel="chat", key="chat:atomic", prompt_tokens=900,
                                   completion_tokens=100, requests=good)
    assert charged > 0 and await pool.fetchval(
        "SELECT ledger_key FROM llm_requests WHERE business_id = $1", tenant.business_id) == "chat:atomic"
