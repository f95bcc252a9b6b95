"""Top-ups through the real app, the fake Stripe API and webhooks signed by the stripe library."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import pytest

from agent_server.config import Settings
from billing import ledger
from billing.money import Currency
from tests.billing.conftest import WEBHOOK_SECRET, Client, count_rows, deliver
from tests.conftest import MakeBusiness, MakeClient, Tenant
from tests.fake_stripe import FakeStripe, body_of, signature_header

pytestmark = pytest.mark.timeout(30)


async def start_topup(client: Client, tenant: Tenant, amount: int = 2500, currency: str = "USD",
                      **headers: str) -> dict[str, Any]:
    response = await client.post("/api/payment/create-checkout-session",
                                  json={"amount": amount, "currency": currency},
                                  headers={**tenant.headers, **headers})
    assert response.status == 200, await response.text()
    body: dict[str, Any] = await response.json()
    return body


async def balance(pool: asyncpg.Pool, tenant: Tenant, currency: Currency = Currency.USD) -> int:
    wallet = await ledger.get_wallet(pool, tenant.business_id, currency)
    return 0 if wallet is None else wallet.balance


async def test_topup_end_to_end_credits_the_wallet_once(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], make_business: MakeBusiness,
        pool: asyncpg.Pool, stripe_settings: Settings) -> None:
    """Checkout Session created on Stripe's wire format; the signed webhook credits exactly the amount paid."""
    fake, _ = fake_stripe
    tenant = await make_business()
    created = await start_topup(stripe_client, tenant, 2500)
    session = fake.sessions[created["sessionId"]]
    assert created["url"] == session["url"]
    sent = fake.requests[-1]
    assert sent["headers"]["Idempotency-Key"].startswith("topup:")
    assert sent["params"]["mode"] == "payment"
    assert sent["params"]["client_reference_id"] == str(tenant.business_id)
    assert sent["params"]["metadata"]["business_id"] == str(tenant.business_id)
    assert sent["params"]["payment_intent_data"]["metadata"]["business_id"] == str(tenant.business_id)
    assert sent["params"]["line_items"][0]["price_data"] == {
        "currency": "usd", "unit_amount": "2500", "product_data": {"name": "Wallet top-up"}}
    public = stripe_settings.server.public_url
    assert sent["params"]["success_url"].startswith(public + "/") and "{CHECKOUT_SESSION_ID}" in sent["params"]["success_url"]
    assert sent["params"]["cancel_url"].startswith(public + "/")
    assert await balance(pool, tenant) == 0, "the redirect alone must not credit"

    response = await deliver(stripe_client, fake.complete_session(created["sessionId"]))
    assert response.status == 200
    assert (await response.json())["outcome"] == "credited"
    assert await balance(pool, tenant) == 2500
    got = await stripe_client.get("/api/wallet/transactions", headers=tenant.headers)
    [entry] = (await got.json())["transactions"]
    assert (entry["type"], entry["amount"], entry["reference"]) == ("topup", 2500,
                                                                     f"stripe:checkout_session:{created['sessionId']}")


async def test_replayed_and_concurrent_deliveries_credit_once(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], make_business: MakeBusiness,
        pool: asyncpg.Pool) -> None:
    """Property 3: the same event 2× in a row and 10× at once, plus a second event about the same payment."""
    fake, _ = fake_stripe
    tenant = await make_business()
    created = await start_topup(stripe_client, tenant, 1000)
    event = fake.complete_session(created["sessionId"])
    first = await deliver(stripe_client, event)
    again = await deliver(stripe_client, event)
    assert (first.status, again.status) == (200, 200)
    assert (await again.json())["outcome"] == "duplicate"
    responses = await asyncio.gather(*(deliver(stripe_client, event) for _ in range(10)))
    assert {r.status for r in responses} == {200}
    # A different event about the same session: deduped on the effect, not the event id.
    other = await deliver(stripe_client, fake.async_payment_succeeded(created["sessionId"]))
    assert other.status == 200
    assert await balance(pool, tenant) == 1000
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == 1


async def test_concurrent_first_deliveries_credit_once(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], make_business: MakeBusiness,
        pool: asyncpg.Pool) -> None:
    """Ten simultaneous first deliveries of one event (none processed yet) still make one entry."""
    fake, _ = fake_stripe
    tenant = await make_business()
    created = await start_topup(stripe_client, tenant, 1500)
    event = fake.complete_session(created["sessionId"])
    successor = fake.async_payment_succeeded(created["sessionId"])
    responses = await asyncio.gather(*(deliver(stripe_client, e) for e in [event] * 10 + [successor] * 5))
    assert {r.status for r in responses} == {200}
    outcomes = [(await r.json())["outcome"] for r in responses]
    assert outcomes.count("credited") == 2 and outcomes.count("duplicate") == 13
    assert await balance(pool, tenant) == 1500
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == 1


def _forged(body: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    now = int(time.time())
    good = signature_header(body, WEBHOOK_SECRET)
    v1 = good.split("v1=")[1]
    return [
        ("missing header", {}, body),
        ("empty header", {"Stripe-Signature": ""}, body),
        ("garbage header", {"Stripe-Signature": "not a signature"}, body),
        ("wrong secret", {"Stripe-Signature": signature_header(body, "whsec_wrong")}, body),
        ("stale timestamp", {"Stripe-Signature": signature_header(body, WEBHOOK_SECRET, now - 301)}, body),
        ("only v0 scheme", {"Stripe-Signature": f"t={now},v0={v1}"}, body),
        ("body altered by one byte", {"Stripe-Signature": good}, body.replace(b"1000", b"9000")),
        ("signed non-JSON", {"Stripe-Signature": signature_header(b"oops", WEBHOOK_SECRET)}, b"oops"),
    ]


async def test_forged_or_stale_signatures_answer_400_and_write_nothing(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], make_business: MakeBusiness,
        pool: asyncpg.Pool) -> None:
    """Property 10: every forged variant is refused before any row is written."""
    fake, _ = fake_stripe
    tenant = await make_business()
    created = await start_topup(stripe_client, tenant, 1000)
    body = body_of(fake.complete_session(created["sessionId"]))
    before = await count_rows(pool)
    for name, headers, payload in _forged(body):
        response = await stripe_client.post("/api/payment/webhook", data=payload, headers=headers)
        assert response.status == 400, name
        assert (await response.json())["error"]["code"] in ("INVALID_SIGNATURE", "INVALID_PAYLOAD"), name
    assert await count_rows(pool) == before


async def test_signed_but_malformed_event_is_refused(stripe_client: Client, pool: asyncpg.Pool) -> None:
    """A correctly signed body that isn't a Stripe event (amount as a string) is a 400, not a credit."""
    event = {"id": "evt_1", "object": "event", "type": "checkout.session.completed", "created": 1,
             "livemode": False, "data": {"object": {"id": "cs_1", "object": "checkout.session",
                                                    "amount_total": "1000", "payment_status": "paid"}}}
    before = await count_rows(pool)
    response = await deliver(stripe_client, event)
    assert response.status == 400
    assert "amount_total" in (await response.json())["error"]["message"]
    assert await count_rows(pool) == before


async def test_failure_after_dedupe_insert_rolls_back_and_retry_applies_once(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], make_business: MakeBusiness,
        pool: asyncpg.Pool) -> None:
    """Property 11: the ledger insert fails after the event row was inserted → 5xx, no event row; retry → one credit."""
    fake, _ = fake_stripe
    tenant = await make_business()
    created = await start_topup(stripe_client, tenant, 1200)
    event = fake.complete_session(created["sessionId"])
    await pool.execute("""
        CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'injected failure'; END $$;
        CREATE TRIGGER test_fail BEFORE INSERT ON ledger_entries FOR EACH ROW EXECUTE FUNCTION test_fail();
    """)
    failed = await deliver(stripe_client, event)
    assert failed.status == 500
    assert await pool.fetchval("SELECT count(*) FROM stripe_events") == 0
    await pool.execute("DROP TRIGGER test_fail ON ledger_entries")
    retried = await deliver(stripe_client, event)
    assert retried.status == 200
    assert await balance(pool, tenant) == 1200
    assert await pool.fetchval("SELECT count(*) FROM stripe_events") == 1


async def test_refund_debits_each_refund_once(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], make_business: MakeBusiness,
        pool: asyncpg.Pool) -> None:
    """charge.refunded carries a cumulative total: two partial refunds debit 300 then 200, replays nothing."""
    fake, _ = fake_stripe
    tenant = await make_business()
    created = await start_topup(stripe_client, tenant, 1000)
    await deliver(stripe_client, fake.complete_session(created["sessionId"]))
    first = fake.refund(created["sessionId"], 300)
    second = fake.refund(created["sessionId"], 200)
    for event in (first, second, first, second):
        assert (await deliver(stripe_client, event)).status == 200
    assert await balance(pool, tenant) == 500
    kinds = await pool.fetch("SELECT kind, amount FROM ledger_entries ORDER BY id")
    assert [(r["kind"], r["amount"]) for r in kinds] == [("topup", 1000), ("refund", -300), ("refund", -200)]


async def test_refund_of_unknown_charge_asks_stripe_to_retry(
        stripe_client: Client, pool: asyncpg.Pool) -> None:
    """A refund we can't route yet is a 503 with nothing recorded, so Stripe delivers it again later."""
    event = {"id": "evt_r", "object": "event", "type": "charge.refunded", "created": 1, "livemode": False,
             "data": {"object": {"id": "ch_x", "object": "charge", "amount": 500, "amount_refunded": 500,
                                 "currency": "usd", "payment_intent": "pi_unknown", "metadata": {}}}}
    response = await deliver(stripe_client, event)
    assert response.status == 503
    assert await pool.fetchval("SELECT count(*) FROM stripe_events") == 0


async def test_unhandled_event_types_answer_200_and_are_recorded(stripe_client: Client, pool: asyncpg.Pool) -> None:
    event = {"id": "evt_other", "object": "event", "type": "customer.created", "created": 1, "livemode": False,
             "data": {"object": {"id": "cus_1", "object": "customer"}}}
    response = await deliver(stripe_client, event)
    assert response.status == 200
    assert (await response.json())["outcome"] == "ignored"
    assert await pool.fetchval("SELECT outcome FROM stripe_events WHERE id = 'evt_other'") == "ignored"


async def test_unpaid_completion_waits_for_async_success(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], make_business: MakeBusiness,
        pool: asyncpg.Pool) -> None:
    """A delayed payment method: `completed` with payment_status unpaid credits nothing until it clears."""
    fake, _ = fake_stripe
    tenant = await make_business()
    created = await start_topup(stripe_client, tenant, 800, "INR")
    assert (await (await deliver(stripe_client, fake.complete_session(created["sessionId"], paid=False))).json()
            )["outcome"] == "pending"
    assert await balance(pool, tenant, Currency.INR) == 0
    await deliver(stripe_client, fake.async_payment_succeeded(created["sessionId"]))
    assert await balance(pool, tenant, Currency.INR) == 800


async def test_checkout_with_same_idempotency_key_returns_same_session(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], make_business: MakeBusiness,
        pool: asyncpg.Pool) -> None:
    """A double-clicked Pay button (one Idempotency-Key) gets one session; a new key gets a new one."""
    fake, _ = fake_stripe
    tenant = await make_business()
    a = await start_topup(stripe_client, tenant, 900, **{"Idempotency-Key": "click-1"})
    b = await start_topup(stripe_client, tenant, 900, **{"Idempotency-Key": "click-1"})
    c = await start_topup(stripe_client, tenant, 900, **{"Idempotency-Key": "click-2"})
    assert a == b and a["sessionId"] != c["sessionId"]
    assert len(fake.sessions) == 2
    assert await pool.fetchval("SELECT count(*) FROM topups") == 2


async def test_reused_key_with_other_amount_is_a_provider_error(
        stripe_client: Client, make_business: MakeBusiness) -> None:
    """Stripe answers idempotency_error for a key reused with other parameters; we pass a 502, not a session."""
    tenant = await make_business()
    await start_topup(stripe_client, tenant, 900, **{"Idempotency-Key": "k"})
    response = await stripe_client.post("/api/payment/create-checkout-session", json={"amount": 901, "currency": "USD"},
                                        headers={**tenant.headers, "Idempotency-Key": "k"})
    assert response.status == 502
    assert (await response.json())["error"]["code"] == "PAYMENT_PROVIDER_ERROR"


BAD_TOPUPS: list[tuple[dict[str, Any], str]] = [
    ({"amount": 499, "currency": "USD"}, "amount"),
    ({"amount": 1_000_001, "currency": "USD"}, "amount"),
    ({"amount": 10.5, "currency": "USD"}, "amount"),
    ({"amount": True, "currency": "USD"}, "amount"),
    ({"amount": None, "currency": "USD"}, "amount"),
    ({"amount": 1000, "currency": "EUR"}, "currency"),
]


async def test_checkout_refuses_bad_amounts(stripe_client: Client, make_business: MakeBusiness,
                                            fake_stripe: tuple[FakeStripe, str]) -> None:
    """Amounts are integers of minor units within the configured bounds, in a supported currency.

    All cases share one app: each app start costs most of a second on the embedded database.
    """
    tenant = await make_business()
    for body, field in BAD_TOPUPS:
        response = await stripe_client.post("/api/payment/create-checkout-session", json=body,
                                            headers=tenant.headers)
        assert response.status == 422, (body, await response.text())
        error = (await response.json())["error"]
        assert (error["code"], error["field"]) == ("VALIDATION_ERROR", field), body
    assert fake_stripe[0].sessions == {}
    # A numeric string is read as the integer it spells, as for query strings.
    response = await stripe_client.post("/api/payment/create-checkout-session",
                                        json={"amount": "1000", "currency": "USD"}, headers=tenant.headers)
    assert response.status == 200


async def test_payment_routes_answer_503_without_stripe_keys(app_client: Client, make_business: MakeBusiness,
                                                             pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    response = await app_client.post("/api/payment/create-checkout-session", json={"amount": 1000, "currency": "USD"},
                                     headers=tenant.headers)
    assert response.status == 503
    assert (await response.json())["error"]["code"] == "STRIPE_NOT_CONFIGURED"
    hook = await app_client.post("/api/payment/webhook", data=b"{}", headers={"Stripe-Signature": "t=1,v1=00"})
    assert hook.status == 503
    assert (await hook.json())["error"]["code"] == "STRIPE_NOT_CONFIGURED"


async def test_checkout_for_another_business_is_404(stripe_client: Client, make_business: MakeBusiness) -> None:
    """Property 14: naming a business you don't belong to looks like naming one that doesn't exist."""
    mine, theirs = await make_business("Mine"), await make_business("Theirs")
    for business_id in (theirs.business_id, uuid.uuid4()):
        response = await stripe_client.post("/api/payment/create-checkout-session",
                                            json={"amount": 1000, "currency": "USD", "businessId": str(business_id)},
                                            headers=mine.headers)
        assert response.status == 404


async def test_webhook_without_auth_header_is_not_a_dashboard_route(make_client: MakeClient,
                                                                    stripe_settings: Settings) -> None:
    """The webhook needs no bearer token (Stripe has none), only the signature."""
    client = await make_client(stripe_settings)
    event = {"id": "evt_x", "object": "event", "type": "ping", "created": 1, "livemode": False, "data": {"object": {}}}
    assert (await deliver(client, event)).status == 200
