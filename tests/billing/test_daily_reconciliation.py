"""The daily reconciliation on the job runner: once a day across processes, missed webhooks first, each
finding stored and counted once."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator

import asyncpg
import pytest

from agent_server import books_jobs
from agent_server.config import Settings
from billing.daily_reconciliation import RECONCILE_KIND, DailyReconciliation, run_daily
from billing.payments import StripePayments
from jobs.config import JobsConfig
from jobs.runner import Recurring, Runner
from jobs.schedule import Schedule
from storage.pool import init_connection
from tests.billing.conftest import Client, deliver
from tests.billing.test_payment_routes import start_topup
from tests.conftest import MakeBusiness, MakeSettings
from tests.fake_stripe import FakeStripe
from tests.jobs.clock import ManualClock

CONFIG = JobsConfig(poll_interval_seconds=0.05, concurrency=2, lease_seconds=30.0)


@pytest.fixture
async def second_pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    """Another process's connections to the same database."""
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=2, init=init_connection)
    assert created is not None
    yield created
    await created.close()


async def test_the_job_runs_once_a_day_across_processes_and_reports_each_finding_once(
        stripe_client: Client, fake_stripe: tuple[FakeStripe, str], stripe_settings: Settings,
        make_business: MakeBusiness, pool: asyncpg.Pool, second_pool: asyncpg.Pool) -> None:
    fake, _ = fake_stripe
    tenant = await make_business()
    delivered = (await start_topup(stripe_client, tenant, 1000))["sessionId"]
    dropped = (await start_topup(stripe_client, tenant, 700))["sessionId"]
    await deliver(stripe_client, fake.complete_session(delivered))
    missed = fake.complete_session(dropped)  # paid at Stripe; the webhook never arrives
    await deliver(stripe_client, fake.refund(delivered, 300))
    charge = fake.charge_of(delivered)
    fake.book("refund", -50, "usd", {"id": "re_silent", "object": "refund", "charge": charge["id"]}, category="refund")
    today = datetime.datetime.now(datetime.UTC).date()
    clock = ManualClock(datetime.datetime.combine(today, datetime.time(0, 45), tzinfo=datetime.UTC))
    schedule = Recurring(RECONCILE_KIND, Schedule.parse("30 0 * * *"))
    runners = [Runner(p, {RECONCILE_KIND: DailyReconciliation(pool, stripe_settings.stripe)}, CONFIG,
                      recurring=(schedule,), clock=clock, worker_id=name)
               for name, p in (("a", pool), ("b", second_pool))]
    await asyncio.gather(*(r.run_once() for r in runners))  # a new schedule waits for its next due time
    clock.advance(days=1)  # tomorrow 00:45: today is yesterday
    ran = await asyncio.gather(*(r.run_once() for r in runners), *(r.run_once() for r in runners))
    assert sum(ran) == 1
    findings = await pool.fetch("SELECT day, kind, subject, stripe_amount, ledger_amount"
                                " FROM reconciliation_findings ORDER BY kind, subject")
    fees = sorted(t["fee"] for t in fake.balance_transactions if t["fee"])
    assert [(f["kind"], f["subject"]) for f in findings if f["kind"] != "fee"] == [
        ("amount_mismatch", f"refunds_of:{charge['id']}"), ("missing_in_ledger", f"event:{missed['id']}")]
    assert sorted(f["stripe_amount"] for f in findings if f["kind"] == "fee") == fees and len(fees) == 2
    assert {f["day"] for f in findings} == {today}
    booked = await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'topup' AND amount = 700")
    assert booked == 1, "the missed webhook is booked once, through the webhook's own transaction"

    # A retry of the day (or the CLI run by hand) stores and books nothing more.
    payments = StripePayments(stripe_settings.stripe, max_network_retries=0)
    try:
        again = await run_daily(pool, payments, day=today, now=clock.now, dispute_fee_minor=1500)
    finally:
        await payments.close()
    assert again.day.new == [] and again.missed.applied == 0
    assert await pool.fetchval("SELECT count(*) FROM reconciliation_findings") == 4

    metrics = await (await stripe_client.get("/metrics")).text()
    for kind, count in (("amount_mismatch", 1), ("missing_in_ledger", 1), ("fee", 2)):
        assert f'agent_reconciliation_findings_total{{kind="{kind}"}} {count}.0' in metrics


def test_the_job_is_scheduled_only_where_stripe_is_configured(make_settings: MakeSettings,
                                                              stripe_settings: Settings) -> None:
    """Without a Stripe key there is nothing to match: a job there could only fail and retry."""
    bare = make_settings()
    assert books_jobs.recurring(bare) == () and books_jobs.handlers(bare, None) == {}  # type: ignore[arg-type]
    assert [r.kind for r in books_jobs.recurring(stripe_settings)] == [RECONCILE_KIND]
