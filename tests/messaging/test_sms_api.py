"""Outbound SMS through the API: queued, sent by the app's dispatcher, tracked by signed callbacks; consent by keyword."""

from __future__ import annotations

import asyncio
import itertools
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from billing import ledger
from billing.money import Currency, Money
from messaging import profiles
from phone_numbers import registry
from tests.conftest import MakeClient, MakeSettings
from tests.fake_twilio import FakeTwilio
from tests.messaging.conftest import OUR_NUMBER, TWILIO_SID, Shop, signed

Client = TestClient[web.Request, web.Application]
OTHER_NUMBER = "+14155550111"
ALICE = "+14155550123"
_sids = itertools.count(1)


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        fake.own(OUR_NUMBER)
        fake.own(OTHER_NUMBER)
        yield fake


@pytest.fixture
async def client(make_client: MakeClient, make_settings: MakeSettings, twilio: FakeTwilio, shop: Shop,
                 pool: asyncpg.Pool) -> Client:
    await registry.add_number(pool, shop.business_id, OTHER_NUMBER)
    return await make_client(make_settings(TWILIO_ACCOUNT_SID=twilio.account_sid, TWILIO_AUTH_TOKEN=twilio.auth_token,
                                           TWILIO_API_BASE=twilio.base_url))


async def send(client: Client, shop: Shop, status: int = 202, **body: Any) -> Any:
    payload = {"body": "Your table is ready", "category": "transactional", "idempotencyKey": f"k{next(_sids)}",
               **body}
    resp = await client.post("/api/sms/send", json=payload, headers=shop.headers)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def sent_to(twilio: FakeTwilio, count: int) -> list[dict[str, Any]]:
    """The fake's messages once the app's dispatcher has sent `count` (polled, real time: at most 3 s)."""
    async with asyncio.timeout(3):
        while len(twilio.messages) < count:
            await asyncio.sleep(0.02)
    return twilio.messages


async def inbound(client: Client, body: str, to: str) -> str | None:
    form = {"MessageSid": f"SM{next(_sids):032x}", "AccountSid": TWILIO_SID, "From": ALICE, "To": to, "Body": body}
    resp = await client.post("/api/voice-agent/handle-sms", data=form, headers=signed("/api/voice-agent/handle-sms",
                                                                                          form))
    assert resp.status == 200
    message = ET.fromstring(await resp.text()).find("Message")
    return None if message is None else message.text


async def callback(client: Client, message_id: str, sid: str, status: str, *, forged: bool = False) -> int:
    path = f"/api/sms/status?m={message_id}"
    form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": TWILIO_SID}
    headers = signed(path, form, token="not-the-token" if forged else "fake-twilio-auth-token")
    return (await client.post(path, data=form, headers=headers)).status


async def test_a_text_is_queued_sent_and_delivered(client: Client, shop: Shop, twilio: FakeTwilio,
                                                   pool: asyncpg.Pool) -> None:
    queued = await send(client, shop, to="(415) 555-0123", body="Olá! Your table is ready 🍽")
    assert {k: queued[k] for k in ("status", "segments", "encoding")} == \
        {"status": "queued", "segments": 1, "encoding": "UCS-2"}
    assert "notBefore" not in queued
    [message] = await sent_to(twilio, 1)
    assert message["status_callback"] == f"https://agent.example.test/api/sms/status?m={queued['messageId']}"
    # The dispatcher records Twilio's answer after the fake has the message: count from there.
    async with asyncio.timeout(3):
        while await pool.fetchval("SELECT message_sid FROM sms_outbox WHERE id = $1",
                                  uuid.UUID(queued["messageId"])) is None:
            await asyncio.sleep(0.02)
    before = await pool.fetchval("SELECT count(*) FROM sms_status_events")
    assert await callback(client, queued["messageId"], message["sid"], "delivered", forged=True) == 403
    assert await pool.fetchval("SELECT count(*) FROM sms_status_events") == before, "a forged callback wrote rows"
    for status in ("delivered", "sent", "delivered"):
        assert await callback(client, queued["messageId"], message["sid"], status) == 204
    detail = await (await client.get(f"/api/sms/messages/{queued['messageId']}", headers=shop.headers)).json()
    assert detail["message"]["status"] == "delivered"
    assert [h["status"] for h in detail["history"]] == ["queued", "sending", "sending", "delivered"]
    listed = await (await client.get("/api/sms/messages", params={"status": "delivered"},
                                     headers=shop.headers)).json()
    assert [m["id"] for m in listed["messages"]] == [queued["messageId"]]
    stats = await (await client.get("/api/sms/stats", headers=shop.headers)).json()
    assert (stats["delivered"], stats["segmentsSent"], stats["costMinor"]) == (1, 1, 1)


async def test_the_same_idempotency_key_queues_one_message(client: Client, shop: Shop, twilio: FakeTwilio) -> None:
    first = await send(client, shop, to=ALICE, idempotencyKey="order-17")
    again = await send(client, shop, to=ALICE, idempotencyKey="order-17")
    assert again["messageId"] == first["messageId"]
    await sent_to(twilio, 1)
    await asyncio.sleep(0.3)
    assert len(twilio.messages) == 1


async def test_refusals(client: Client, shop: Shop, pool: asyncpg.Pool) -> None:
    assert (await send(client, shop, 422, to=ALICE, body="a" * 1601))["error"]["field"] == "body"
    assert (await send(client, shop, 409, to=ALICE, category="marketing"))["error"]["code"] == "NO_CONSENT"
    voice_only = await registry.add_number(pool, shop.business_id, "+14155550177")
    await pool.execute("UPDATE business_numbers SET capabilities = '{\"voice\": true, \"sms\": false}' WHERE id = $1",
                       voice_only)
    assert (await send(client, shop, 422, to=ALICE, fromNumberId=str(voice_only)))["error"]["code"] == \
        "NUMBER_NOT_SMS_CAPABLE"
    balance = await pool.fetchval("SELECT balance FROM wallets WHERE business_id = $1", shop.business_id)
    await ledger.debit(pool, business_id=shop.business_id, amount=Money(balance, Currency.USD),
                       kind=ledger.EntryKind.ADJUSTMENT, idempotency_key="empty-it", reference="test", actor="tests")
    assert (await send(client, shop, 402, to=ALICE))["error"]["code"] == "INSUFFICIENT_BALANCE"


async def test_stop_to_one_number_stops_all_of_them_until_start(client: Client, shop: Shop, twilio: FakeTwilio,
                                                                 pool: asyncpg.Pool) -> None:
    assert await inbound(client, "stop all", OUR_NUMBER) is None
    refused = await send(client, shop, 409, to=ALICE, fromNumberId=str(await pool.fetchval(
        "SELECT id FROM business_numbers WHERE phone_number = $1", OTHER_NUMBER)))
    assert refused["error"]["code"] == "RECIPIENT_OPTED_OUT"
    opted = await (await client.get("/api/opt-outs", headers=shop.headers)).json()
    assert [(o["phone"], o["source"]) for o in opted["optOuts"]] == [(ALICE, "keyword")]
    assert await inbound(client, "START", OTHER_NUMBER) is None
    await send(client, shop, to=ALICE)
    await sent_to(twilio, 1)
    events = await pool.fetch("SELECT action, source FROM consent_events ORDER BY id")
    assert [(e["action"], e["source"]) for e in events] == [("opt_out", "keyword"), ("opt_in", "keyword")]


async def test_help_gets_the_business_help_text_when_it_has_one(client: Client, shop: Shop,
                                                                pool: asyncpg.Pool) -> None:
    assert await inbound(client, "HELP", OUR_NUMBER) is None, "none set: Twilio's own auto-reply answers"
    await profiles.set_profile(pool, shop.business_id, help_text="Corner Dental: call 415-555-0100. STOP to opt out.")
    assert await inbound(client, "info", OUR_NUMBER) == "Corner Dental: call 415-555-0100. STOP to opt out."
