"""The daily reconciliation against Stripe's balance transactions: a missing webhook, an amount mismatch
and each fee show up exactly once, and nothing is booked from them."""

from __future__ import annotations

import asyncio
import datetime
import json

import asyncpg
import pytest

from agent_server.cli import main
from agent_server.config import Settings
from billing.balance_reconciliation import Finding, Side, compare, reconcile_day
from billing.payments import StripePayments
from tests.billing.conftest import Client, deliver
from tests.billing.test_payment_routes import start_topup
from tests.conftest import MakeBusiness
from tests.fake_stripe import FakeStripe


def test_compare_names_each_kind_of_difference() -> None:
    stripe = {"a": Side("USD", 100), "b": Side("USD", 5), "c": Side("INR", 7), "d": Side("USD", -3)}
    ledger = {"a": Side("USD", 100), "b": Side("USD", 4), "c": Side("USD", 7), "e": Side("USD", 9)}
    assert compare(stripe, ledger) == [
        Finding("amount_mismatch", "b", "USD", 5, 4), Finding("currency_mismatch", "c", "INR/USD", 7, 7),
        Finding("missing_in_ledger", "d", "USD", -3, None), Finding("missing_at_stripe", "e", "USD", None, 9)]


async def test_a_missing_webhook_a_mismatch_and_each_fee_are_reported_once(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], stripe_settings: Settings,
        make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    fake, _ = fake_stripe
    tenant = await make_business()
    delivered = (await start_topup(stripe_client, tenant, 1000))["sessionId"]
    dropped = (await start_topup(stripe_client, tenant, 700))["sessionId"]
    await deliver(stripe_client, fake.complete_session(delivered))
    fake.complete_session(dropped)  # paid at Stripe; the webhook never arrives
    await deliver(stripe_client, fake.refund(delivered, 300))
    charge = fake.charge_of(delivered)
    # Stripe took 50 more back on the same charge and never told us.
    fake.book("refund", -50, "usd", {"id": "re_silent", "object": "refund", "charge": charge["id"]}, category="refund")
    entries_before = await pool.fetchval("SELECT count(*) FROM ledger_entries")
    payments = StripePayments(stripe_settings.stripe, max_network_retries=0)
    today = datetime.datetime.now(datetime.UTC).date()
    try:
        first = await reconcile_day(pool, payments, today)
        again = await reconcile_day(pool, payments, today)
    finally:
        await payments.close()
    fee_of = {t["source"]["id"]: t for t in fake.balance_transactions if t["type"] == "charge"}
    dropped_pi = fake.sessions[dropped]["payment_intent"]
    assert first.listed == 4
    assert sorted((f.kind, f.subject, f.stripe_amount, f.ledger_amount) for f in first.new) == sorted([
        ("amount_mismatch", f"refunds_of:{charge['id']}", -350, -300),
        ("missing_in_ledger", f"payment_intent:{dropped_pi}", 700, None),
        ("fee", f"txn:{fee_of[charge['id']]['id']}", 1000 * 29 // 1000 + 30, None),
        ("fee", f"txn:{fee_of[fake.charge_of(dropped)['id']]['id']}", (700 * 29 + 999) // 1000 + 30, None)])
    assert again.new == [] and again.listed == 4
    assert await pool.fetchval("SELECT count(*) FROM reconciliation_findings") == 4
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == entries_before, "nothing booked"


async def test_disputes_match_apart_from_their_fee(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], stripe_settings: Settings,
        make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    fake, _ = fake_stripe
    tenant = await make_business()
    session = (await start_topup(stripe_client, tenant, 2000))["sessionId"]
    await deliver(stripe_client, fake.complete_session(session))
    opened = fake.dispute(session, amount=800)
    await deliver(stripe_client, opened)
    await deliver(stripe_client, fake.close_dispute(opened["data"]["object"]["id"], won=True))
    payments = StripePayments(stripe_settings.stripe, max_network_retries=0)
    try:
        report = await reconcile_day(pool, payments, datetime.datetime.now(datetime.UTC).date())
    finally:
        await payments.close()
    assert sorted((f.kind, f.stripe_amount) for f in report.new) == [("fee", 2000 * 29 // 1000 + 30), ("fee", 1500)]


async def test_reconcile_command_books_missed_events_first(
        fake_stripe: tuple[FakeStripe, str], database_url: str, monkeypatch: pytest.MonkeyPatch,
        make_business: MakeBusiness, capsys: pytest.CaptureFixture[str]) -> None:
    """A dropped webhook that List Events still has is applied and reported as such, so the day then
    matches (fees aside)."""
    fake, base_url = fake_stripe
    tenant = await make_business()
    session = fake._new_session({
        "mode": "payment", "client_reference_id": str(tenant.business_id), "success_url": "https://x/s",
        "cancel_url": "https://x/c", "line_items": [{"price_data": {"currency": "usd", "unit_amount": "5000"}}]})
    fake.complete_session(session["id"])
    for name, value in (("DATABASE_URL", database_url), ("STRIPE_SECRET_KEY", fake.secret_key),
                        ("STRIPE_API_BASE", base_url)):
        monkeypatch.setenv(name, value)
    today = str(datetime.datetime.now(datetime.UTC).date())
    assert await asyncio.to_thread(main, ["books", "reconcile", "--day", today, "--json"]) == 0
    reported = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    event = next(e for e in fake.events if e["type"] == "checkout.session.completed")
    assert reported["missedWebhooks"] == 1
    assert [(f["kind"], f["subject"]) for f in reported["findings"]][:1] == [("missing_in_ledger", f"event:{event['id']}")]
    assert [f["kind"] for f in reported["findings"]][1:] == ["fee"]
