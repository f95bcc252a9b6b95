"""Retention: sent texts, their history and finished campaigns' recipients go after [sms] retention_days; consent,
money and open texts stay."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from billing.money import Currency
from jobs.config import JobsConfig
from jobs.runner import Recurring, Runner
from jobs.schedule import Schedule
from messaging import campaigns, consent, delivery
from messaging.campaign_start import start
from messaging.retention import RETENTION_KIND, RETENTION_SCHEDULE, Purged, SmsRetention, purge
from tests.conftest import MakeBusiness
from tests.messaging.outbox_world import CONFIG, World, opened_world

START = datetime.datetime(2026, 7, 1, 16, 0, tzinfo=datetime.UTC)  # noon in New York
PHONES = ["+14155550121", "+14155550122", "+14155550123", "+14155550124"]
RETAINED = dataclasses.replace(CONFIG, retention_days=400)
DAY = datetime.timedelta(days=1)


@pytest.fixture
async def world(pool: asyncpg.Pool, make_business: MakeBusiness) -> AsyncIterator[World]:
    async with opened_world(pool, make_business, START) as world:
        await world.number("+18005550100", "toll_free")
        yield world


async def delivered(world: World, phone: str) -> uuid.UUID:
    """A text sent and delivered now (on the world's clock)."""
    message = await world.text(phone)
    await world.drain(1)
    sid = await world.pool.fetchval("SELECT message_sid FROM sms_outbox WHERE id = $1", message.id)
    await delivery.apply(world.pool, delivery.Callback(message.id, sid, "delivered", None),
                         price_per_segment=CONFIG.price_per_segment_minor, currency=Currency.USD, now=world.clock.now)
    return message.id


async def finished_campaign(world: World, phones: list[str]) -> uuid.UUID:
    """A campaign to `phones`, every text delivered, completed (its hold released) now."""
    ids = [await world.contact(p) for p in phones]
    campaign = await campaigns.create(world.pool, world.business_id, campaigns.NewCampaign(
        "Spring", "Hi {{firstName}}", campaigns.Audience(contact_ids=ids), "transactional"))
    await start(world.pool, world.business_id, campaign.id, CONFIG, Currency.USD, now=world.clock.now)
    await world.drain(len(phones))
    for row in await world.pool.fetch("SELECT id, message_sid FROM sms_outbox WHERE campaign_id = $1", campaign.id):
        await delivery.apply(world.pool, delivery.Callback(row["id"], row["message_sid"], "delivered", None),
                             price_per_segment=CONFIG.price_per_segment_minor, currency=Currency.USD,
                             now=world.clock.now)
    assert await campaigns.finish_if_done(world.pool, campaign.id)
    await world.pool.execute("UPDATE campaigns SET finished_at = $2 WHERE id = $1", campaign.id, world.clock.now)
    return campaign.id


async def counts(world: World) -> dict[str, int]:
    tables = ("sms_outbox", "sms_status_events", "campaign_recipients", "campaigns", "consent_events",
              "ledger_entries", "hold_events", "suppressions", "contacts")
    return {t: await world.pool.fetchval(f"SELECT count(*) FROM {t}") for t in tables}


async def test_texts_and_recipients_older_than_the_retention_go_consent_and_money_stay(world: World) -> None:
    old_text = await delivered(world, PHONES[0])
    old_campaign = await finished_campaign(world, PHONES[1:3])
    await consent.opt_out(world.pool, world.business_id, PHONES[0], source=consent.Source.KEYWORD)
    stuck = await world.text(PHONES[3])  # queued and never due: kept however old
    await world.pool.execute("UPDATE sms_outbox SET not_before = 'infinity' WHERE id = $1", stuck.id)
    world.clock.advance(380 * DAY.total_seconds())
    recent = await delivered(world, PHONES[1])
    before = await counts(world)
    world.clock.advance(30 * DAY.total_seconds())
    purged = await purge(world.pool, RETAINED, now=world.clock.now)
    assert (purged.texts, purged.recipients) == (3, 2)
    left = await world.pool.fetch("SELECT id FROM sms_outbox ORDER BY created_at")
    assert {r["id"] for r in left} == {stuck.id, recent}
    assert old_text not in {r["id"] for r in left}
    after = await counts(world)
    assert after["sms_status_events"] < before["sms_status_events"]
    assert await world.pool.fetchval("SELECT count(*) FROM sms_status_events WHERE message_id = $1", old_text) == 0
    assert after["campaign_recipients"] == 0
    for kept in ("campaigns", "consent_events", "ledger_entries", "hold_events", "suppressions", "contacts"):
        assert after[kept] == before[kept], kept
    assert await world.pool.fetchval("SELECT status FROM campaigns WHERE id = $1", old_campaign) == "completed"


async def test_an_unfinished_campaigns_texts_are_kept_however_old(world: World) -> None:
    ids = [await world.contact(p) for p in PHONES[:2]]
    campaign = await campaigns.create(world.pool, world.business_id, campaigns.NewCampaign(
        "Spring", "Hi {{firstName}}", campaigns.Audience(contact_ids=ids), "transactional"))
    await start(world.pool, world.business_id, campaign.id, CONFIG, Currency.USD, now=world.clock.now)
    await world.drain(2)
    await campaigns.pause(world.pool, world.business_id, campaign.id)
    await world.pool.execute("UPDATE sms_outbox SET status = 'delivered'")
    world.clock.advance(500 * DAY.total_seconds())
    assert await purge(world.pool, RETAINED, now=world.clock.now) == Purged(recipients=0, texts=0)
    assert await world.pool.fetchval("SELECT count(*) FROM sms_outbox") == 2
    assert await world.pool.fetchval("SELECT count(*) FROM campaign_recipients") == 2


async def test_two_purges_at_once_in_small_batches_delete_each_row_once(world: World) -> None:
    for phone in PHONES:
        await delivered(world, phone)
    await finished_campaign(world, PHONES[:3])
    world.clock.advance(401 * DAY.total_seconds())
    results = await asyncio.gather(*(purge(world.pool, RETAINED, now=world.clock.now, batch=2) for _ in range(2)))
    assert sum(r.texts for r in results) == 7
    assert sum(r.recipients for r in results) == 3
    assert await world.pool.fetchval("SELECT count(*) FROM sms_outbox") == 0


async def test_two_runners_run_the_daily_retention_once(world: World) -> None:
    await delivered(world, PHONES[0])
    runners = [Runner(world.pool, {RETENTION_KIND: SmsRetention(world.pool, RETAINED, clock=world.clock)},
                      JobsConfig(), recurring=[Recurring(RETENTION_KIND, Schedule.parse(RETENTION_SCHEDULE))],
                      clock=world.clock, worker_id=f"runner-{i}") for i in range(2)]
    await asyncio.gather(*(r.run_once() for r in runners))
    world.clock.advance(401 * DAY.total_seconds())
    assert sum(await asyncio.gather(*(r.run_once() for r in runners))) == 1
    assert await world.pool.fetchval("SELECT count(*) FROM sms_outbox") == 0
    jobs = await world.pool.fetch("SELECT status FROM jobs WHERE kind = $1", RETENTION_KIND)
    assert [j["status"] for j in jobs] == ["succeeded"]
