"""A server without TWILIO_AUTH_TOKEN or STRIPE_WEBHOOK_SECRET refuses every webhook, signed or not, and writes nothing.

An unauthenticated voice or SMS webhook could place calls and model replies on a business's
wallet, a forged delivery callback could charge a text or opt its recipient out, and an
unchecked Stripe event could credit one, so "no secret" must never mean
"no check": whatever signature a forger computes (none, an empty key, a guessed one) is refused.
"""

from __future__ import annotations

import dataclasses
import time
import uuid

import aiohttp
import asyncpg
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server import agents
from media import call_records
from media.caller_simulator import sign
from phone_numbers import registry
from tests.conftest import PUBLIC_URL, MakeBusiness, MakeClient, MakeSettings, fund_wallet
from tests.fake_stripe import signature_header

Client = TestClient[web.Request, web.Application]
NUMBER, CALLER = "+14155550100", "+14155550123"
# What a forger can try when the server has no token: no signature, one made with an empty
# key (what a check against an unset token would compute), one made with a guessed key.
FORGED_KEYS = [None, "", "test-auth-token"]


@dataclasses.dataclass(frozen=True)
class Line:
    client: Client
    pool: asyncpg.Pool
    business_id: uuid.UUID
    agent_id: uuid.UUID
    number_id: uuid.UUID


@pytest.fixture
async def line(make_settings: MakeSettings, make_client: MakeClient, make_business: MakeBusiness,
               pool: asyncpg.Pool) -> Line:
    """A funded business with an agent on NUMBER, served by an app with no Twilio token and no Stripe secret."""
    settings = make_settings()
    assert settings.twilio.auth_token == "" and settings.stripe.webhook_secret == ""
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Reception", greeting="Hello.")
    number_id = await registry.add_number(pool, tenant.business_id, NUMBER, agent_id=agent_id)
    await fund_wallet(pool, tenant.business_id)
    return Line(await make_client(settings), pool, tenant.business_id, agent_id, number_id)


async def post_twilio(line: Line, path: str, form: dict[str, str], key: str | None) -> aiohttp.ClientResponse:
    headers = {} if key is None else {"X-Twilio-Signature": sign(key, PUBLIC_URL + path, form)}
    return await line.client.post(path, data=form, headers=headers)


async def rows(pool: asyncpg.Pool) -> dict[str, int]:
    """Rows of everything a webhook could write: calls, texts and their delivery, consent, money."""
    tables = ("calls", "call_meters", "sms_messages", "sms_status_events", "consent_events", "suppressions",
              "undeliverable_phones", "holds", "ledger_entries", "stripe_events", "topups")
    return {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in tables}


@pytest.mark.parametrize("key", FORGED_KEYS)
@pytest.mark.parametrize(("path", "form"), [
    ("/api/voice-agent/handle-call", {"CallSid": "CA" + "1" * 32, "From": CALLER, "To": NUMBER,
                                      "CallStatus": "ringing", "Direction": "inbound"}),
    ("/api/voice-agent/status", {"CallSid": "CA" + "2" * 32, "CallStatus": "completed", "CallDuration": "42"}),
    ("/api/voice-agent/handle-sms", {"MessageSid": "SM" + "3" * 32, "From": CALLER, "To": NUMBER,
                                     "Body": "hello", "NumMedia": "0"}),
], ids=["voice", "status", "sms"])
async def test_twilio_webhooks_without_an_auth_token_refuse_every_request(
        line: Line, path: str, form: dict[str, str], key: str | None) -> None:
    # A call in progress that a forged status callback would end.
    await call_records.record_inbound_call(line.pool, call_sid="CA" + "2" * 32, business_id=line.business_id,
                                           number_id=line.number_id, agent_id=line.agent_id, from_number=CALLER,
                                           to_number=NUMBER)
    before = await rows(line.pool)
    resp = await post_twilio(line, path, form, key)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "TWILIO_SIGNATURE_INVALID"
    assert await rows(line.pool) == before
    assert await line.pool.fetchval("SELECT status FROM calls WHERE call_sid = $1", "CA" + "2" * 32) == "ringing"


@pytest.mark.parametrize("key", FORGED_KEYS)
async def test_sms_delivery_callback_without_an_auth_token_is_refused_and_changes_nothing(
        line: Line, key: str | None) -> None:
    """The callback names a text being sent: taken, it would record the sid and charge the text,
    mark it undelivered and opt its recipient out (21610); refused, the row stays as it was."""
    message_id = await line.pool.fetchval(
        "INSERT INTO sms_outbox (business_id, number_id, from_number, to_phone, body, category, segments, encoding,"
        " status, idempotency_key, attempts, send_started_at) VALUES ($1, $2, $3, $4, 'Your table is ready',"
        " 'transactional', 1, 'GSM-7', 'sending', 'forged-callback', 1, now()) RETURNING id",
        line.business_id, line.number_id, NUMBER, CALLER)
    form = {"MessageSid": "SM" + "4" * 32, "MessageStatus": "undelivered", "ErrorCode": "21610",
            "AccountSid": "AC" + "5" * 32, "From": NUMBER, "To": CALLER}
    before = await rows(line.pool)
    resp = await post_twilio(line, f"/api/sms/status?m={message_id}", form, key)
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "TWILIO_SIGNATURE_INVALID"
    assert await rows(line.pool) == before
    row = await line.pool.fetchrow("SELECT status, message_sid, error_code, price_minor FROM sms_outbox WHERE id = $1",
                                   message_id)
    assert dict(row) == {"status": "sending", "message_sid": None, "error_code": None, "price_minor": None}


async def test_media_stream_without_an_auth_token_is_refused_before_the_upgrade(line: Line) -> None:
    url = "wss://agent.example.test/api/voice-agent/stream"
    for key in FORGED_KEYS:
        headers = {} if key is None else {"X-Twilio-Signature": sign(key, url, {})}
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await line.client.ws_connect("/api/voice-agent/stream", headers=headers)
        assert refused.value.status == 503


@pytest.mark.parametrize("secret", FORGED_KEYS)
@pytest.mark.parametrize("stripe_key", ["", "sk_test_configured"], ids=["no stripe", "api key only"])
async def test_stripe_webhook_without_a_webhook_secret_refuses_every_event(
        make_settings: MakeSettings, make_client: MakeClient, line: Line, secret: str | None,
        stripe_key: str) -> None:
    """With the API key set (checkout works) but no webhook secret, events are still refused."""
    client = await make_client(make_settings(STRIPE_SECRET_KEY=stripe_key) if stripe_key else None)
    session = {"id": "cs_test_forged", "object": "checkout.session", "amount_total": 100_000, "currency": "usd",
               "payment_status": "paid", "status": "complete", "payment_intent": "pi_forged",
               "metadata": {"business_id": str(line.business_id)},
               "client_reference_id": str(line.business_id)}
    body = orjson.dumps({"id": "evt_forged", "object": "event", "created": int(time.time()),
                         "type": "checkout.session.completed", "livemode": False, "data": {"object": session}})
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["Stripe-Signature"] = signature_header(body, secret)
    before = await rows(line.pool)
    resp = await client.post("/api/payment/webhook", data=body, headers=headers)
    assert resp.status == 503
    assert (await resp.json())["error"]["code"] == "STRIPE_NOT_CONFIGURED"
    assert await rows(line.pool) == before
