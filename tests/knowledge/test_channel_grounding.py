"""Grounding per channel: SMS is told not to write URLs the block carries; without an LLM key the best excerpt answers."""

from __future__ import annotations

import asyncpg

from agent_server.config import Settings
from tests.conftest import PUBLIC_URL, MakeClient, MakeSettings
from tests.fake_openai import FakeOpenAi
from tests.knowledge.published import dentist_site
from tests.messaging.conftest import TWILIO_TOKEN, Shop, messaging_settings, shop  # noqa: F401  (fixtures)
from tests.messaging.test_twilio_sms import text

ORIGIN = {"Origin": PUBLIC_URL}
PARKING_ANSWER = ("Patients park free in the garage under the practice. The entrance is on Mill Lane."
                  " Source: Parking.")


async def test_sms_is_told_not_to_write_urls_while_the_block_carries_them(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    await dentist_site(pool, shop.business_id, shop.agent_id)
    fake_openai.state.script("Park free in the garage under the practice.", "Park in the garage.")
    client = await make_client(messaging_settings)
    await text(client, "Where can I park my car?")
    sms = fake_openai.state.chat_requests[-1]["messages"]
    assert "Do not write out web addresses (URLs)" in sms[0]["content"]
    assert "(https://dentist.example/parking)" in sms[-1]["content"]

    await client.post(f"/api/widget/{shop.agent_id}/message", headers=ORIGIN, json={"text": "Where can I park?"})
    widget = fake_openai.state.chat_requests[-1]["messages"]
    assert "web addresses" not in widget[0]["content"]


async def test_without_an_llm_key_sms_and_widget_answer_from_the_best_excerpt(
        make_client: MakeClient, make_settings: MakeSettings, shop: Shop, pool: asyncpg.Pool) -> None:  # noqa: F811
    await dentist_site(pool, shop.business_id, shop.agent_id)
    client = await make_client(make_settings(TWILIO_AUTH_TOKEN=TWILIO_TOKEN))
    assert await text(client, "Where can I park my car?") == PARKING_ANSWER

    resp = await client.post(f"/api/widget/{shop.agent_id}/message", headers=ORIGIN,
                             json={"text": "Is there parking for patients?"})
    body = await resp.json()
    assert body["text"] == PARKING_ANSWER, body
    assert body["sources"][0] == {"title": "Parking", "url": "https://dentist.example/parking"}
    # The FAQ still wins over the knowledge base.
    assert "Monday to Friday, nine to five" in (await text(client, "What are your opening hours?") or "")
