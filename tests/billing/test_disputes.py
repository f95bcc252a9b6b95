"""Stripe disputes: held at once (a spent wallet goes below zero and stops paying for use), given back if
won, the fee taken if lost; every step in the business's transactions, delivered signed, repeated and in
any order."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from billing import accounts, call_meter, disputes, ledger, usage
from billing.disputes import DisputeObject, Step
from billing.errors import InsufficientFunds
from billing.ledger import EntryKind
from billing.money import Currency, Money
from billing.pricing import Prices
from billing.stripe_events import StripeEvent
from tests.billing.conftest import Client, deliver
from tests.billing.test_payment_routes import balance, start_topup
from tests.conftest import MakeBusiness, Tenant
from tests.fake_stripe import FakeStripe

T = TypeVar("T")
USD = Currency.USD
FEE = 1500  # [stripe] dispute_fee_minor's default


async def paid_topup(client: Client, fake: FakeStripe, tenant: Tenant, amount: int) -> str:
    created = await start_topup(client, tenant, amount)
    assert (await deliver(client, fake.complete_session(created["sessionId"]))).status == 200
    session_id: str = created["sessionId"]
    return session_id


async def transactions(client: Client, tenant: Tenant) -> list[tuple[str, int, str]]:
    got = await client.get("/api/wallet/transactions", headers=tenant.headers)
    assert got.status == 200
    return [(e["type"], e["amount"], e["reference"]) for e in reversed((await got.json())["transactions"])]


def test_each_status_implies_its_steps() -> None:
    assert disputes.steps_for("needs_response") == (Step.HOLD,)
    assert disputes.steps_for("under_review") == (Step.HOLD,)
    assert disputes.steps_for("won") == disputes.steps_for("warning_closed") == (Step.HOLD, Step.RELEASE)
    assert disputes.steps_for("lost") == (Step.HOLD, Step.FEE)


def test_dispute_payload_round_trips_and_refuses_a_bad_amount() -> None:
    fake = FakeStripe()
    session = fake._new_session({"mode": "payment", "success_url": "https://x/s", "cancel_url": "https://x/c",
                                 "line_items": [{"price_data": {"currency": "usd", "unit_amount": "900"}}]})
    fake.complete_session(session["id"])
    payload = fake.dispute(session["id"])
    event = StripeEvent.parse(payload)
    assert isinstance(event.object, DisputeObject) and event.object.amount == 900
    assert StripeEvent.parse(event.to_dict()) == event
    payload["data"]["object"]["amount"] = 0
    with pytest.raises(ValueError, match="data.object.amount must be positive"):
        StripeEvent.parse(payload)


async def test_a_lost_dispute_is_held_at_once_then_costs_the_fee(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], make_business: MakeBusiness,
        pool: asyncpg.Pool) -> None:
    fake, _ = fake_stripe
    tenant = await make_business()
    session = await paid_topup(stripe_client, fake, tenant, 2000)
    await ledger.debit(pool, business_id=tenant.business_id, amount=Money(1500, USD), kind=EntryKind.SMS_USAGE,
                       idempotency_key="spent", reference="sms:SM1", actor="metering")
    opened = fake.dispute(session)
    dispute_id = opened["data"]["object"]["id"]
    response = await deliver(stripe_client, opened)
    assert (response.status, (await response.json())["outcome"]) == (200, "dispute_recorded")
    assert await balance(pool, tenant) == 500 - 2000, "the spent balance goes below zero"
    prices = Prices(USD, voice_per_minute=12, sms_per_reply=2, chat_per_1k_tokens=1)
    assert await call_meter.open_meter(pool, business_id=tenant.business_id, call_sid="CAx", prices=prices,
                                       wanted=60, minimum=10, lease_seconds=60) is None, "no new call"
    with pytest.raises(InsufficientFunds):
        await usage.reserve(pool, business_id=tenant.business_id, amount=Money(2, USD), key="sms:SM2",
                            reference="sms:SM2")
    assert (await deliver(stripe_client, fake.update_dispute(dispute_id))).status == 200
    assert await balance(pool, tenant) == -1500, "evidence submitted: nothing moves"
    assert (await deliver(stripe_client, fake.close_dispute(dispute_id, won=False))).status == 200
    assert await balance(pool, tenant) == -1500 - FEE
    reference = f"stripe:dispute:{dispute_id}"
    assert (await transactions(stripe_client, tenant))[2:] == [("dispute_hold", -2000, reference),
                                                               ("dispute_fee", -FEE, reference)]
    books = {(r.currency, r.account): r.balance for r in await accounts.balances(pool)}
    assert books[("USD", "disputes")] == 2000 + FEE
    assert await ledger.conservation_violations(pool) == []


async def test_a_won_dispute_gives_the_amount_back(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], make_business: MakeBusiness,
        pool: asyncpg.Pool) -> None:
    fake, _ = fake_stripe
    tenant = await make_business()
    session = await paid_topup(stripe_client, fake, tenant, 1000)
    opened = fake.dispute(session, amount=400)
    await deliver(stripe_client, opened)
    wallet = await ledger.get_wallet(pool, tenant.business_id, USD)
    assert wallet is not None and (wallet.balance, wallet.available) == (600, 600)
    await deliver(stripe_client, fake.close_dispute(opened["data"]["object"]["id"], won=True))
    assert await balance(pool, tenant) == 1000
    reference = f"stripe:dispute:{opened['data']['object']['id']}"
    assert (await transactions(stripe_client, tenant))[1:] == [("dispute_hold", -400, reference),
                                                               ("dispute_release", 400, reference)]


async def test_a_dispute_on_an_unknown_charge_asks_stripe_to_retry(
        stripe_client: Client, pool: asyncpg.Pool) -> None:
    fake = FakeStripe()
    session = fake._new_session({"mode": "payment", "success_url": "https://x/s", "cancel_url": "https://x/c",
                                 "line_items": [{"price_data": {"currency": "usd", "unit_amount": "900"}}]})
    fake.complete_session(session["id"])
    response = await deliver(stripe_client, fake.dispute(session["id"]))
    assert response.status == 503
    assert await pool.fetchval("SELECT count(*) FROM stripe_events") == 0


# Every event once, created and closed twice: Hypothesis draws the order of the five deliveries.
EVENTS = ("created", "updated", "closed", "created", "closed")


async def test_dispute_events_repeated_and_reordered_book_the_same_entries(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], make_business: MakeBusiness,
        pool: asyncpg.Pool) -> None:
    """Property 12 for disputes: any order of created/updated/closed, some twice, signed, ends as in order."""
    fake, _ = fake_stripe
    loop = asyncio.get_running_loop()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout=30)

    async def one_order(order: list[str], won: bool) -> None:
        tenant = await make_business()
        session = await paid_topup(stripe_client, fake, tenant, 1000)
        created = fake.dispute(session, amount=700)
        dispute_id = created["data"]["object"]["id"]
        sent = {"created": created, "updated": fake.update_dispute(dispute_id),
                "closed": fake.close_dispute(dispute_id, won=won)}
        for name in order:
            assert (await deliver(stripe_client, sent[name])).status == 200
        reference = f"stripe:dispute:{dispute_id}"
        last = ("dispute_release", 700, reference) if won else ("dispute_fee", -FEE, reference)
        assert (await transactions(stripe_client, tenant))[1:] == [("dispute_hold", -700, reference), last]
        assert await balance(pool, tenant) == (1000 if won else 300 - FEE)

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(order=st.permutations(EVENTS), won=st.booleans())
    def property_(order: list[str], won: bool) -> None:
        run(one_order(order, won))

    await asyncio.to_thread(property_)
    assert await ledger.conservation_violations(pool) == []


async def test_a_dispute_far_beyond_the_balance_is_still_booked(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """The money already left through Stripe: the hold overdraws rather than fail the webhook."""
    tenant = await make_business()
    async with pool.acquire() as conn, conn.transaction():
        entries = await disputes.book(conn, business_id=tenant.business_id, dispute_id="dp_1", status="lost",
                                      disputed=Money(5000, USD), fee_minor=0)
    assert [(e.kind, e.amount) for e in entries] == [(EntryKind.DISPUTE_HOLD, -5000)]
    wallet = await ledger.get_wallet(pool, tenant.business_id, USD)
    assert wallet is not None and wallet.balance == -5000
