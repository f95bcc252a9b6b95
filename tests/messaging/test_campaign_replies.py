"""Replies to campaigns: credited to the campaign that texted the sender from that number, answered only with aiReplies."""

from __future__ import annotations

import datetime
import itertools
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server.config import Settings
from billing.money import Currency
from messaging import campaigns, contacts
from messaging.campaign_start import start
from messaging.campaign_stats import stats
from phone_numbers import registry
from phone_numbers.twilio_carrier import TwilioCarrier
from tests.conftest import MakeClient
from tests.fake_openai import FakeOpenAi
from tests.fake_twilio import FakeTwilio
from tests.messaging.conftest import OUR_NUMBER, TWILIO_SID, Shop, signed
from tests.messaging.outbox_world import CONFIG, Clock, dispatcher_for

Client = TestClient[web.Request, web.Application]
PATH = "/api/voice-agent/handle-sms"
ANN, BO, CY = "+14155550121", "+14155550122", "+14155550123"
OTHER_NUMBER = "+14155550111"
_sids = itertools.count(1)


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        fake.own(OUR_NUMBER)
        fake.own(OTHER_NUMBER)
        yield fake


async def text(client: Client, sender: str, body: str, to: str = OUR_NUMBER) -> str | None:
    """A signed inbound text; the TwiML reply's text (None: empty TwiML)."""
    form = {"MessageSid": f"SM{next(_sids):032x}", "AccountSid": TWILIO_SID, "From": sender, "To": to,
            "Body": body, "NumMedia": "0"}
    resp = await client.post(PATH, data=form, headers=signed(PATH, form))
    assert resp.status == 200, await resp.text()
    message = ET.fromstring(await resp.text()).find("Message")
    return None if message is None else message.text


async def sent_campaign(pool: asyncpg.Pool, shop: Shop, twilio: FakeTwilio, phones: list[str], *,
                        ai_replies: bool) -> uuid.UUID:
    """A campaign to `phones` from OUR_NUMBER, sent through the fake Twilio just now."""
    ids = []
    for phone in phones:
        found = await contacts.by_phone(pool, shop.business_id, phone)
        ids.append(found.id if found else (await contacts.create(pool, shop.business_id, contacts.NewContact(
            phone, first_name="Ann"))).id)
    campaign = await campaigns.create(pool, shop.business_id, campaigns.NewCampaign(
        "Sale", "Hi {{firstName}}, our sale starts today", campaigns.Audience(contact_ids=ids), "transactional",
        ai_replies=ai_replies))
    clock = Clock(datetime.datetime.now(datetime.UTC))
    await start(pool, shop.business_id, campaign.id, CONFIG, Currency.USD, now=clock.now)
    carrier = TwilioCarrier(twilio.account_sid, twilio.auth_token, twilio.base_url, timeout_seconds=1)
    dispatcher = dispatcher_for(pool, carrier, clock)
    unsent = "SELECT count(*) FROM sms_outbox WHERE campaign_id = $1 AND message_sid IS NULL"
    for _ in range(10):
        if not await pool.fetchval(unsent, campaign.id):
            break
        await dispatcher.run_once()
        clock.advance(1)
    await carrier.aclose()
    assert await pool.fetchval(unsent, campaign.id) == 0
    return campaign.id


async def campaign_stats(pool: asyncpg.Pool, shop: Shop, campaign_id: uuid.UUID) -> dict[str, object]:
    return await stats(pool, await campaigns.get(pool, shop.business_id, campaign_id),
                       reply_window=CONFIG.reply_window())


async def test_a_reply_to_a_campaign_without_ai_replies_is_stored_and_counted_and_no_model_is_asked(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool, twilio: FakeTwilio) -> None:
    client = await make_client(messaging_settings)
    campaign_id = await sent_campaign(pool, shop, twilio, [ANN, BO], ai_replies=False)
    assert await text(client, ANN, "Is it on Sunday too?") is None
    assert await text(client, ANN, "Hello??") is None
    assert fake_openai.state.chat_requests == []
    inbound = await pool.fetch("SELECT body FROM sms_messages WHERE direction = 'inbound' ORDER BY created_at")
    assert [r["body"] for r in inbound] == ["Is it on Sunday too?", "Hello??"]
    assert (await campaign_stats(pool, shop, campaign_id))["replies"] == 2
    fake_openai.state.script("Yes, we deliver.")
    assert await text(client, CY, "Do you deliver?") == "Yes, we deliver.", "not a recipient: the agent answers"
    assert (await campaign_stats(pool, shop, campaign_id))["replies"] == 2


async def test_a_reply_to_a_campaign_with_ai_replies_is_answered_by_the_agent(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool, twilio: FakeTwilio) -> None:
    client = await make_client(messaging_settings)
    quiet = await sent_campaign(pool, shop, twilio, [ANN], ai_replies=False)
    answered = await sent_campaign(pool, shop, twilio, [ANN], ai_replies=True)
    fake_openai.state.script("Yes, Sunday too!")
    assert await text(client, ANN, "Is it on Sunday too?") == "Yes, Sunday too!", "the latest campaign decides"
    assert [(await campaign_stats(pool, shop, c))["replies"] for c in (quiet, answered)] == [0, 1]
    rows = await pool.fetch("SELECT campaign_id, phone, answered FROM campaign_replies")
    assert [tuple(r) for r in rows] == [(answered, ANN, True)]


async def test_only_the_number_that_texted_and_the_reply_window_count(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool, twilio: FakeTwilio) -> None:
    await registry.add_number(pool, shop.business_id, OTHER_NUMBER, agent_id=shop.agent_id)
    client = await make_client(messaging_settings)
    campaign_id = await sent_campaign(pool, shop, twilio, [ANN, BO], ai_replies=False)
    fake_openai.state.script("Hi from the other line.")
    assert await text(client, ANN, "Which store?", to=OTHER_NUMBER) == "Hi from the other line."
    await pool.execute("UPDATE sms_outbox SET send_started_at = send_started_at - interval '73 hours'"
                       " WHERE to_phone = $1", BO)
    fake_openai.state.script("Hello Bo.")
    assert await text(client, BO, "Still on?") == "Hello Bo.", "72 h after the campaign's text it is no reply"
    assert (await campaign_stats(pool, shop, campaign_id))["replies"] == 0


async def test_a_stop_from_a_recipient_is_an_opt_out_of_the_campaign_not_a_reply(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,
        pool: asyncpg.Pool, twilio: FakeTwilio) -> None:
    await registry.add_number(pool, shop.business_id, OTHER_NUMBER)
    client = await make_client(messaging_settings)
    campaign_id = await sent_campaign(pool, shop, twilio, [ANN, BO], ai_replies=True)
    assert await text(client, ANN, "STOP") is None
    assert await text(client, BO, "unsubscribe", to=OTHER_NUMBER) is None, "a number with no agent still honours it"
    counted = await campaign_stats(pool, shop, campaign_id)
    assert (counted["replies"], counted["optOuts"]) == (0, 2)
    assert fake_openai.state.chat_requests == []
