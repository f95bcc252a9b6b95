"""The campaign job: a scheduled campaign starts once at its time, however many runners tick, and never early."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from agent_server import job_runner
from billing.money import Currency
from jobs.config import JobsConfig
from jobs.runner import Recurring, Runner
from jobs.schedule import Schedule
from messaging import campaigns, consent
from messaging.campaign_schedule import CAMPAIGN_TICK_KIND, CAMPAIGN_TICK_SCHEDULE, CampaignTick, start_due
from messaging.campaign_start import start
from tests.conftest import MakeBusiness
from tests.messaging.outbox_world import CONFIG, World, opened_world

START = datetime.datetime(2026, 7, 1, 16, 0, tzinfo=datetime.UTC)  # noon in New York
PHONES = ["+14155550121", "+14155550122", "+14155550123"]


@pytest.fixture
async def world(pool: asyncpg.Pool, make_business: MakeBusiness) -> AsyncIterator[World]:
    async with opened_world(pool, make_business, START) as world:
        await world.number("+14155550100", "toll_free")
        yield world


async def scheduled(world: World, send_at: datetime.datetime) -> campaigns.Campaign:
    ids = [await world.contact(p) for p in PHONES]
    return await campaigns.create(world.pool, world.business_id, campaigns.NewCampaign(
        "Spring", "Hi {{firstName}}", campaigns.Audience(contact_ids=ids), "marketing", send_at=send_at),
        now=world.clock.now)


async def status(world: World, campaign_id: uuid.UUID) -> tuple[str, str | None]:
    found = await campaigns.get(world.pool, world.business_id, campaign_id)
    return found.status, found.pause_reason


def test_the_campaign_job_recurs_every_minute_in_every_runner() -> None:
    assert Recurring(CAMPAIGN_TICK_KIND, Schedule.parse(CAMPAIGN_TICK_SCHEDULE)) in job_runner.RECURRING
    assert CAMPAIGN_TICK_SCHEDULE == "* * * * *"


async def test_two_runners_start_a_due_campaign_once_and_not_before_its_time(world: World) -> None:
    campaign = await scheduled(world, START + datetime.timedelta(seconds=90))
    runners = [Runner(world.pool, {CAMPAIGN_TICK_KIND: CampaignTick(world.pool, CONFIG, Currency.USD,
                                                                    clock=world.clock)},
                      JobsConfig(), recurring=[Recurring(CAMPAIGN_TICK_KIND, Schedule.parse(CAMPAIGN_TICK_SCHEDULE))],
                      clock=world.clock, worker_id=f"runner-{i}") for i in range(2)]
    await asyncio.gather(*(r.run_once() for r in runners))
    world.clock.advance(60)
    assert sum(await asyncio.gather(*(r.run_once() for r in runners))) == 1, "one job for the minute"
    assert await status(world, campaign.id) == ("scheduled", None), "not due until 16:01:30"
    world.clock.advance(60)
    assert sum(await asyncio.gather(*(r.run_once() for r in runners))) == 1
    assert await status(world, campaign.id) == ("sending", None)
    await world.drain(3)
    assert sorted(m["to"] for m in world.twilio.messages) == PHONES
    jobs = await world.pool.fetch("SELECT status FROM jobs WHERE kind = $1", CAMPAIGN_TICK_KIND)
    assert [j["status"] for j in jobs] == ["succeeded", "succeeded"]


async def test_ticks_racing_on_a_due_campaign_queue_each_recipient_once(world: World) -> None:
    campaign = await scheduled(world, START + datetime.timedelta(minutes=5))
    world.clock.advance(300)
    started = await asyncio.gather(*(start_due(world.pool, CONFIG, Currency.USD, now=world.clock.now)
                                      for _ in range(3)))
    assert sorted(len(s) for s in started) == [0, 0, 1]
    rows = await world.pool.fetch("SELECT to_phone FROM sms_outbox WHERE campaign_id = $1", campaign.id)
    assert sorted(r["to_phone"] for r in rows) == PHONES


async def test_sent_by_hand_before_its_time_the_job_does_not_start_it_again(world: World) -> None:
    campaign = await scheduled(world, START + datetime.timedelta(hours=1))
    await start(world.pool, world.business_id, campaign.id, CONFIG, Currency.USD, now=world.clock.now)
    world.clock.advance(3600)
    assert await start_due(world.pool, CONFIG, Currency.USD, now=world.clock.now) == []
    assert await world.pool.fetchval("SELECT count(*) FROM sms_outbox") == 3


async def test_a_due_campaign_nobody_may_get_goes_back_to_draft_with_the_reason(world: World) -> None:
    campaign = await scheduled(world, START + datetime.timedelta(minutes=1))
    for phone in PHONES:
        await consent.opt_out(world.pool, world.business_id, phone, source=consent.Source.KEYWORD)
    world.clock.advance(60)
    assert await start_due(world.pool, CONFIG, Currency.USD, now=world.clock.now) == []
    assert await status(world, campaign.id) == ("draft", "EMPTY_AUDIENCE")
    assert await world.pool.fetchval("SELECT count(*) FROM sms_outbox") == 0
