"""Property 15: a webhook Stripe never delivered is booked by reconciliation, exactly once."""

from __future__ import annotations

import asyncio
import json
import time

import asyncpg
import pytest

from agent_server.cli import main
from agent_server.config import Settings
from billing import ledger
from billing.money import Currency
from billing.payments import StripePayments
from billing.reconcile import reconcile
from tests.billing.conftest import Client, deliver
from tests.billing.test_payment_routes import start_topup
from tests.conftest import MakeBusiness
from tests.fake_stripe import FakeStripe


async def test_reconciliation_books_a_dropped_webhook_once(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], stripe_settings: Settings,
        make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    fake, _ = fake_stripe
    tenant = await make_business()
    delivered = await start_topup(stripe_client, tenant, 1000)
    dropped = await start_topup(stripe_client, tenant, 700)
    await deliver(stripe_client, fake.complete_session(delivered["sessionId"]))
    fake.complete_session(dropped["sessionId"])  # Stripe has the event; our endpoint never saw it
    fake.event("customer.created", {"id": "cus_1", "object": "customer"})
    payments = StripePayments(stripe_settings.stripe, max_network_retries=0)
    try:
        first = await reconcile(pool, payments, since=int(time.time()) - 3600, dispute_fee_minor=1500)
        second = await reconcile(pool, payments, since=int(time.time()) - 3600, dispute_fee_minor=1500)
    finally:
        await payments.close()
    assert (first.listed, first.applied, first.deferred) == (2, 1, 0)
    assert (second.listed, second.applied) == (2, 0)
    wallet = await ledger.get_wallet(pool, tenant.business_id, Currency.USD)
    assert wallet is not None and wallet.balance == 1700
    late = await deliver(stripe_client, fake.events[1])  # the lost webhook finally arrives
    assert (await late.json())["outcome"] == "duplicate"
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == 2


async def test_reconcile_command(fake_stripe: tuple[FakeStripe, str], database_url: str,
                                 monkeypatch: pytest.MonkeyPatch, make_business: MakeBusiness,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    """`agent-server wallet reconcile` runs the same job against the configured Stripe."""
    fake, base_url = fake_stripe
    tenant = await make_business()
    session = fake._new_session({
        "mode": "payment", "client_reference_id": str(tenant.business_id), "success_url": "https://x/s",
        "cancel_url": "https://x/c", "line_items": [{"price_data": {"currency": "inr", "unit_amount": "5000"}}]})
    fake.complete_session(session["id"])
    for name, value in (("DATABASE_URL", database_url), ("STRIPE_SECRET_KEY", fake.secret_key),
                        ("STRIPE_API_BASE", base_url)):
        monkeypatch.setenv(name, value)
    # The CLI runs its own event loop; run it in a thread so this test's loop keeps serving the fake.
    code = await asyncio.to_thread(main, ["wallet", "reconcile", "--json"])
    assert code == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["applied"] == 1
    assert await asyncio.to_thread(main, ["wallet", "reconcile", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["applied"] == 0
