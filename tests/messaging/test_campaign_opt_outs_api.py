"""A STOP texted to one number mid-campaign stops the next texts from every number; START lets them go again;
POST /api/sms/messages/{id}/retry sends a failed or canceled text once more, within its campaign."""

from __future__ import annotations

import datetime
import itertools
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server.config import Settings
from billing.money import Currency
from messaging import contacts, delivery
from messaging.dispatcher import Dispatcher
from phone_numbers import registry
from phone_numbers.twilio_carrier import TwilioCarrier
from tests.conftest import MakeClient
from tests.fake_twilio import FakeTwilio
from tests.messaging.conftest import OUR_NUMBER, TWILIO_SID, Shop, signed
from tests.messaging.outbox_world import CALLBACK, Clock

Client = TestClient[web.Request, web.Application]
A, B = OUR_NUMBER, "+14155550111"
YAN, XIA = "+14155550121", "+14155550122"  # Yan's texts go first on each number, Xia's a second later
_sids = itertools.count(1)


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        fake.own(A)
        fake.own(B)
        yield fake


@pytest.fixture
def clock() -> Clock:
    """A minute ahead of the app's real clock, so what the app queues now is due at once."""
    return Clock(datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1))


@pytest.fixture
async def dispatcher(pool: asyncpg.Pool, twilio: FakeTwilio, messaging_settings: Settings,
                     clock: Clock) -> AsyncIterator[Dispatcher]:
    """The outbox's dispatcher on a clock the test moves (the app itself has no Twilio account: it sends nothing)."""
    carrier = TwilioCarrier(twilio.account_sid, twilio.auth_token, twilio.base_url, timeout_seconds=1)
    yield Dispatcher(pool, carrier, messaging_settings.sms, Currency.USD, status_callback_base=CALLBACK,
                     clock=clock)
    await carrier.aclose()


async def drain(dispatcher: Dispatcher, clock: Clock, seconds: int) -> None:
    for _ in range(seconds):
        while await dispatcher.run_once():
            pass
        clock.advance(1)


async def call(client: Client, shop: Shop, method: str, path: str, status: int, body: Any = None) -> Any:
    resp = await client.request(method, path, json=body, headers=shop.headers)
    assert resp.status == status, await resp.text()
    return await resp.json()


async def text(client: Client, sender: str, body: str, to: str) -> None:
    form = {"MessageSid": f"SM{next(_sids):032x}", "AccountSid": TWILIO_SID, "From": sender, "To": to,
            "Body": body, "NumMedia": "0"}
    resp = await client.post("/api/voice-agent/handle-sms", data=form, headers=signed("/api/voice-agent/handle-sms",
                                                                                       form))
    assert resp.status == 200, await resp.text()


async def campaign_from(client: Client, shop: Shop, pool: asyncpg.Pool, number: str) -> str:
    number_id = await pool.fetchval("SELECT id FROM business_numbers WHERE phone_number = $1", number)
    ids = [str((await contacts.by_phone(pool, shop.business_id, p) or await contacts.create(
        pool, shop.business_id, contacts.NewContact(p, first_name="Pat"))).id) for p in (YAN, XIA)]
    created = await call(client, shop, "POST", "/api/campaigns", 201, {
        "name": f"From {number}", "template": "Hi {{firstName}}, new hours from Monday", "category": "transactional",
        "audience": {"contactIds": ids}, "fromNumberIds": [str(number_id)]})
    await call(client, shop, "POST", f"/api/campaigns/{created['id']}/send", 202)
    return str(created["id"])


def sent(twilio: FakeTwilio) -> list[tuple[str, str]]:
    return sorted((m["from"], m["to"]) for m in twilio.messages)


async def test_stop_to_one_number_mid_campaign_stops_both_numbers_and_start_lets_them_go_again(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop, pool: asyncpg.Pool, twilio: FakeTwilio,
        dispatcher: Dispatcher, clock: Clock) -> None:
    await registry.add_number(pool, shop.business_id, B)
    client = await make_client(messaging_settings)
    from_a, from_b = await campaign_from(client, shop, pool, A), await campaign_from(client, shop, pool, B)
    await dispatcher.run_once()
    assert sent(twilio) == sorted([(A, YAN), (B, YAN)]), "one text a second per long code: Xia's wait"
    await text(client, XIA, "Stop", to=A)
    await drain(dispatcher, clock, 3)
    assert sent(twilio) == sorted([(A, YAN), (B, YAN)]), "Xia's texts from A and B were not sent"
    xia = {campaign: await pool.fetchrow("SELECT id, status, error_message FROM sms_outbox WHERE campaign_id = $1"
                                          " AND to_phone = $2", uuid.UUID(campaign), XIA)
           for campaign in (from_a, from_b)}
    assert {(r["status"], r["error_message"]) for r in xia.values()} == {("canceled", "RECIPIENT_OPTED_OUT")}
    refused = await call(client, shop, "POST", f"/api/sms/messages/{xia[from_a]['id']}/retry", 200)
    assert refused["message"]["status"] == "queued"
    await drain(dispatcher, clock, 2)
    assert len(twilio.messages) == 2, "still opted out: the retried text is canceled again"
    await text(client, XIA, "START", to=B)
    for row in xia.values():
        await call(client, shop, "POST", f"/api/sms/messages/{row['id']}/retry", 200)
    await drain(dispatcher, clock, 2)
    assert sent(twilio) == sorted([(A, YAN), (B, YAN), (A, XIA), (B, XIA)])
    stats = await call(client, shop, "GET", f"/api/campaigns/{from_a}/stats", 200)
    assert (stats["optOuts"], stats["messages"]) == (1, {"sending": 2})


async def test_retry_sends_a_failed_text_once_more_and_refuses_the_rest(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop, pool: asyncpg.Pool, twilio: FakeTwilio,
        dispatcher: Dispatcher, clock: Clock) -> None:
    client = await make_client(messaging_settings)
    twilio.fail("POST", r"Messages\.json$", status=400, code=21612, message="cannot route", times=1)
    queued = await call(client, shop, "POST", "/api/sms/send", 202, {
        "to": YAN, "body": "Your table is ready", "category": "transactional", "idempotencyKey": "t1"})
    await drain(dispatcher, clock, 1)
    path = f"/api/sms/messages/{queued['messageId']}"
    failed = await call(client, shop, "GET", path, 200)
    assert (failed["message"]["status"], failed["message"]["errorCode"]) == ("failed", 21612)
    retried = await call(client, shop, "POST", f"{path}/retry", 200)
    assert {k: retried["message"][k] for k in ("status", "attempts", "errorCode", "messageSid")} == \
        {"status": "queued", "attempts": 0, "errorCode": None, "messageSid": None}
    assert [(h["status"], h["source"]) for h in retried["history"]][-2:] == [("failed", "twilio"), ("queued", "retry")]
    await drain(dispatcher, clock, 1)
    assert len(twilio.messages) == 1 and twilio.messages[0]["to"] == YAN
    again = await call(client, shop, "POST", f"{path}/retry", 409)
    assert again["error"]["code"] == "NOT_RETRYABLE", "it is with Twilio now"
    debits = await pool.fetch("SELECT amount FROM ledger_entries WHERE kind = 'sms_usage'")
    assert [d["amount"] for d in debits] == [-messaging_settings.sms.price_per_segment_minor]


async def test_a_canceled_campaign_s_text_is_not_retried_and_a_completed_one_s_is(
        make_client: MakeClient, messaging_settings: Settings, shop: Shop, pool: asyncpg.Pool, twilio: FakeTwilio,
        dispatcher: Dispatcher, clock: Clock) -> None:
    await registry.add_number(pool, shop.business_id, B)
    client = await make_client(messaging_settings)
    twilio.fail("POST", r"Messages\.json$", status=400, code=21612, message="cannot route", times=1)
    done = await campaign_from(client, shop, pool, A)
    await drain(dispatcher, clock, 3)
    failed = await pool.fetchval("SELECT id FROM sms_outbox WHERE status = 'failed'")
    [went] = twilio.messages
    await delivery.apply(pool, delivery.Callback(uuid.UUID(went["status_callback"].rsplit("m=", 1)[1]), went["sid"],
                                                 "delivered", None),
                         price_per_segment=1, currency=Currency.USD, now=clock.now)
    assert (await call(client, shop, "GET", f"/api/campaigns/{done}", 200))["status"] == "completed"
    await call(client, shop, "POST", f"/api/sms/messages/{failed}/retry", 200)
    assert (await call(client, shop, "GET", f"/api/campaigns/{done}", 200))["status"] == "sending"
    await drain(dispatcher, clock, 2)
    assert len(twilio.messages) == 2, "the completed campaign's released hold is placed anew for it"
    dropped = await campaign_from(client, shop, pool, B)
    await call(client, shop, "POST", f"/api/campaigns/{dropped}/cancel", 200)
    canceled = await pool.fetchval("SELECT id FROM sms_outbox WHERE campaign_id = $1 LIMIT 1", uuid.UUID(dropped))
    refused = await call(client, shop, "POST", f"/api/sms/messages/{canceled}/retry", 409)
    assert (refused["error"]["code"], refused["error"]["message"]) == ("NOT_RETRYABLE", "its campaign was canceled")
