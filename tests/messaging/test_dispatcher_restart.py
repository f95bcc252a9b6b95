"""A dispatcher process SIGKILLed mid-campaign, twice, and started again: each recipient gets exactly one text.

Twilio (the fake) takes each text at once and answers 0.3 s later, so a kill leaves texts
Twilio has but the outbox doesn't know went: the next process looks them up (after the stale
send time) instead of sending them again.
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from billing.money import Currency
from messaging import campaigns, consent, contacts
from messaging.campaign_start import start
from phone_numbers import registry
from tests.conftest import MakeBusiness, fund_wallet
from tests.fake_twilio import FakeTwilio
from tests.messaging.dispatch_worker import CONFIG

ROOT = Path(__file__).resolve().parents[2]
RECIPIENTS = [f"+1415555{n:04d}" for n in range(1000, 1040)]
OPTED_OUT = RECIPIENTS[7]

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
async def twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        fake.own("+18005550100")
        fake.slow_answer("POST", r"Messages\.json$", 0.3)
        yield fake


async def spawn(database_url: str, twilio: FakeTwilio) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.messaging.dispatch_worker", database_url, twilio.base_url, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE)
    assert proc.stdout is not None
    async with asyncio.timeout(20):
        assert (await proc.stdout.readline()).strip() == b"ready"
    return proc


async def until(predicate: collections.abc.Callable[[], collections.abc.Awaitable[bool]], seconds: float) -> None:
    async with asyncio.timeout(seconds):
        while not await predicate():
            await asyncio.sleep(0.01)


async def kill(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    await proc.wait()


async def test_a_worker_killed_mid_campaign_and_restarted_sends_each_recipient_one_text(
        pool: asyncpg.Pool, database_url: str, make_business: MakeBusiness, twilio: FakeTwilio) -> None:
    tenant = await make_business("Texting Co")
    await fund_wallet(pool, tenant.business_id, 1_000)
    number_id = await registry.add_number(pool, tenant.business_id, "+18005550100")
    await pool.execute("UPDATE business_numbers SET number_type = 'toll_free' WHERE id = $1", number_id)
    ids = [(await contacts.create(pool, tenant.business_id, contacts.NewContact(p, first_name="Ann"))).id
           for p in RECIPIENTS]
    await consent.opt_out(pool, tenant.business_id, OPTED_OUT, source=consent.Source.KEYWORD)
    campaign = await campaigns.create(pool, tenant.business_id, campaigns.NewCampaign(
        "Spring", "Hi {{firstName}}, spring hours", campaigns.Audience(contact_ids=ids), "transactional"))
    await start(pool, tenant.business_id, campaign.id, CONFIG, Currency.USD, now=datetime.datetime.now(datetime.UTC))

    async def taken(n: int) -> bool:
        return len(twilio.messages) >= n

    async def all_paid() -> bool:
        return not await pool.fetchval("SELECT count(*) FROM sms_outbox WHERE campaign_id = $1"
                                       " AND (message_sid IS NULL OR paid_at IS NULL)", campaign.id)

    for kill_at in (10, 25):
        worker = await spawn(database_url, twilio)
        await until(lambda: taken(kill_at), 30)
        await kill(worker)
        unanswered = await pool.fetchval("SELECT count(*) FROM sms_outbox WHERE status = 'sending'"
                                         " AND message_sid IS NULL")
        assert unanswered > 0, "the kill left texts Twilio has and the outbox doesn't know went"
    worker = await spawn(database_url, twilio)
    try:
        await until(all_paid, 40)
    finally:
        await kill(worker)
    eligible = [p for p in RECIPIENTS if p != OPTED_OUT]
    assert collections.Counter(m["to"] for m in twilio.messages) == collections.Counter(eligible)
    assert len(twilio.requests_to("POST", r"Messages\.json$")) == len(eligible), "no text was sent twice"
    assert twilio.requests_to("GET", r"Messages\.json$"), "the open sends were looked up"
    debits = await pool.fetch("SELECT idempotency_key, amount FROM ledger_entries WHERE kind = 'sms_usage'")
    assert sorted(d["idempotency_key"] for d in debits) == sorted(f"sms:{m['sid']}" for m in twilio.messages)
    assert {d["amount"] for d in debits} == {-1}
    assert await pool.fetchval("SELECT h.amount FROM holds h JOIN campaigns c ON c.hold_id = h.id"
                               " WHERE c.id = $1", campaign.id) == 0
