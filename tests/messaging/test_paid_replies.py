"""SMS and chat replies are paid from the wallet: reserved before the model runs, charged after."""

from __future__ import annotations

import asyncpg

from agent_server.config import Settings
from billing import ledger
from billing.ledger import EntryKind
from billing.money import Currency, Money
from billing.pricing import chat_charge
from conversations.widget_messages import Done, Error
from tests.conftest import MakeClient, fund_wallet
from tests.fake_openai import FakeOpenAi
from tests.messaging.conftest import Shop
from tests.messaging.test_twilio_sms import text
from tests.messaging.test_widget import ORIGIN, ask, socket_path


async def drain_wallet(pool: asyncpg.Pool, shop: Shop) -> None:
    wallet = await ledger.get_wallet(pool, shop.business_id, Currency.USD)
    assert wallet is not None
    await ledger.debit(pool, business_id=shop.business_id, amount=Money(wallet.balance, Currency.USD),
                       kind=EntryKind.ADJUSTMENT, idempotency_key="drain", reference="drain", actor="test")


async def usage_entries(pool: asyncpg.Pool, kind: str) -> list[int]:
    rows = await pool.fetch("SELECT amount FROM ledger_entries WHERE kind = $1 ORDER BY id", kind)
    return [-r["amount"] for r in rows]


async def usage_details(pool: asyncpg.Pool, kind: str) -> list[tuple[int, str]]:
    """What each entry of `kind` recorded it paid for (the statement's quantities)."""
    rows = await pool.fetch("SELECT d.quantity, d.unit FROM ledger_entries e JOIN usage_details d ON d.entry_id = e.id"
                            " WHERE e.kind = $1 ORDER BY e.id", kind)
    return [(r["quantity"], r["unit"]) for r in rows]


async def test_sms_refused_for_lack_of_funds_gets_the_unavailable_text_and_no_llm_request(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    await drain_wallet(pool, shop)
    client = await make_client(messaging_settings)
    assert await text(client, "Can I book for Tuesday?") == messaging_settings.messaging.unavailable_text
    assert fake_openai.state.chat_requests == []
    assert await usage_entries(pool, "sms_usage") == []


async def test_widget_message_refused_for_lack_of_funds_without_an_llm_request(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    await drain_wallet(pool, shop)
    client = await make_client(messaging_settings)
    async with client.ws_connect(socket_path(shop), headers=ORIGIN) as ws:
        received = await ask(ws, "Can I get a cleaning this week?")
    assert isinstance(received[-1], Error) and received[-1].code == "INSUFFICIENT_BALANCE"
    assert fake_openai.state.chat_requests == []
    resp = await client.post(f"/api/widget/{shop.agent_id}/message", json={"text": "hello?"}, headers=ORIGIN)
    assert resp.status == 402 and (await resp.json())["error"]["code"] == "INSUFFICIENT_BALANCE"
    assert fake_openai.state.chat_requests == []


async def test_sms_reply_is_charged_once_even_when_the_webhook_is_retried(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    fake_openai.state.script("Tuesday works.")
    client = await make_client(messaging_settings)
    await text(client, "Tuesday?", sid="SM" + "a" * 32)
    await text(client, "Tuesday?", sid="SM" + "a" * 32)
    assert await usage_entries(pool, "sms_usage") == [messaging_settings.billing.sms_per_reply_minor]
    assert await usage_details(pool, "sms_usage") == [(1, "replies")]


async def test_chat_reply_is_charged_for_the_tokens_it_used(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    fake_openai.state.script("We can fit you in on Tuesday morning.")
    await fund_wallet(pool, shop.business_id, 1_000_000)
    client = await make_client(messaging_settings)
    async with client.ws_connect(socket_path(shop), headers=ORIGIN) as ws:
        received = await ask(ws, "Can I get a cleaning this week?")
    done = received[-1]
    assert isinstance(done, Done)
    row = await pool.fetchrow("SELECT prompt_tokens + completion_tokens AS tokens FROM widget_messages WHERE id = $1",
                              done.message_id)
    assert row is not None
    expected = chat_charge(row["tokens"], messaging_settings.billing.chat_per_1k_tokens_minor)
    assert await usage_entries(pool, "chat_usage") == ([expected] if expected else [])
    assert await usage_details(pool, "chat_usage") == ([(row["tokens"], "tokens")] if expected else [])
    wallet = await ledger.get_wallet(pool, shop.business_id, Currency.USD)
    assert wallet is not None and wallet.held == 0
