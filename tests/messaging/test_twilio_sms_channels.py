"""SMS and WhatsApp replies follow the agent's per-channel settings (issue 22)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from agent_server.config import Settings
from tests.conftest import MakeClient
from tests.fake_openai import FakeOpenAi
from tests.messaging.conftest import OUR_NUMBER, Shop
from tests.messaging.test_twilio_sms import SENDER, stored, text


async def set_channels(pool: asyncpg.Pool, agent_id: uuid.UUID, channels: dict[str, Any]) -> None:
    await pool.execute("UPDATE agents SET model = 'gpt-agent', temperature = 0.7, channels = $2 WHERE id = $1",
                       agent_id, channels)


async def test_sms_reply_asks_the_model_with_the_sms_channels_model_and_temperature(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    await set_channels(pool, shop.agent_id, {"sms": {"model": "gpt-sms", "temperature": 0.1},
                                             "whatsapp": {"model": "gpt-whatsapp"}})
    fake_openai.state.script("Tuesday works.", "Hello on WhatsApp!")
    client = await make_client(messaging_settings)
    assert await text(client, "Can I come Tuesday?") == "Tuesday works."
    assert await text(client, "hi there", sender="whatsapp:" + SENDER, to="whatsapp:" + OUR_NUMBER) \
        == "Hello on WhatsApp!"
    sms, whatsapp = fake_openai.state.chat_requests
    assert (sms["model"], sms["temperature"]) == ("gpt-sms", 0.1)
    assert whatsapp["model"] == "gpt-whatsapp"
    assert abs(whatsapp["temperature"] - 0.7) < 1e-6  # inherited from the agent


async def test_disabled_sms_channel_stores_the_text_but_asks_no_model_and_charges_nothing(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    await set_channels(pool, shop.agent_id, {"sms": {"enabled": False}})
    client = await make_client(messaging_settings)
    assert await text(client, "Can I come Tuesday?") is None
    assert await stored(pool) == [("inbound", SENDER, "Can I come Tuesday?", "received")]
    assert fake_openai.state.chat_requests == []
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'sms_usage'") == 0
    fake_openai.state.script("Hello on WhatsApp!")
    assert await text(client, "hi", sender="whatsapp:" + SENDER, to="whatsapp:" + OUR_NUMBER) \
        == "Hello on WhatsApp!"  # WhatsApp is its own channel, still on
    assert await text(client, "STOP") is None
    assert await pool.fetchval("SELECT count(*) FROM sms_opt_outs") == 1


async def test_the_answer_cache_keeps_apart_answers_written_by_each_channels_model(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool) -> None:
    """An answer the SMS model wrote is not served on WhatsApp, which asks another model."""
    await set_channels(pool, shop.agent_id, {"sms": {"model": "gpt-sms"}})
    fake_openai.state.script("Yes, from age three.", "Yes, children are welcome.")
    client = await make_client(messaging_settings)
    assert await text(client, "Do you treat children?", sender="+14155550111") == "Yes, from age three."
    assert await text(client, "Do you treat children?", sender="+14155550122") == "Yes, from age three."
    whatsapp = [await text(client, "Do you treat children?", sender=f"whatsapp:+1415555013{i}",
                           to="whatsapp:" + OUR_NUMBER) for i in range(2)]
    assert whatsapp == ["Yes, children are welcome."] * 2
    assert [r["model"] for r in fake_openai.state.chat_requests] == ["gpt-sms", "gpt-agent"]
