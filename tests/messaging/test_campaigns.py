"""Campaigns: audience snapshot with skips by reason, rendered bodies, pause/resume/cancel, STOP mid-campaign."""

from __future__ import annotations

import dataclasses
import datetime
import random
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from billing.money import Currency
from messaging import campaigns, consent, contacts
from messaging.campaign_start import start as start_campaign
from messaging.campaign_stats import stats as campaign_stats
from messaging.dispatcher import Dispatcher
from messaging.templates import UnknownVariable
from tests.conftest import MakeBusiness
from tests.messaging.outbox_world import CALLBACK, CONFIG, World, opened_world

START = datetime.datetime(2026, 7, 1, 16, 0, tzinfo=datetime.UTC)  # noon in New York
OURS = "+14155550100"
PHONES = ["+14155550121", "+14155550122", "+14155550123"]


@pytest.fixture
async def world(pool: asyncpg.Pool, make_business: MakeBusiness) -> AsyncIterator[World]:
    async with opened_world(pool, make_business, START) as world:
        await world.number(OURS)
        yield world


async def campaign_for(world: World, contact_ids: list[uuid.UUID], template: str = "Hi {{firstName|there}}!",
                       category: str = "marketing") -> campaigns.Campaign:
    return await campaigns.create(world.pool, world.business_id, campaigns.NewCampaign(
        "Spring", template, campaigns.Audience(contact_ids=contact_ids), category))


async def start(world: World, campaign: campaigns.Campaign) -> dict[str, object]:
    return await start_campaign(world.pool, world.business_id, campaign.id, CONFIG, Currency.USD,
                                now=world.clock.now)


async def resume(world: World, campaign: campaigns.Campaign) -> campaigns.Campaign:
    return await campaigns.resume(world.pool, world.business_id, campaign.id,
                                  price_per_segment=CONFIG.price_per_segment_minor, currency=Currency.USD,
                                  now=world.clock.now)


async def test_an_unknown_variable_is_refused_when_the_campaign_is_written(world: World) -> None:
    with pytest.raises(UnknownVariable):
        await campaign_for(world, [], "Hi {{fristName}}")


async def test_the_audience_snapshot_skips_by_reason_and_renders_each_body(world: World) -> None:
    ids = [await world.contact(p) for p in PHONES]
    no_consent = await world.contact("+14155550124", consent=False)
    deleted = await world.contact("+14155550125")
    await contacts.delete(world.pool, world.business_id, deleted)
    await consent.opt_out(world.pool, world.business_id, PHONES[1], source=consent.Source.KEYWORD)
    await consent.mark_undeliverable(world.pool, world.business_id, PHONES[2], 30006)
    campaign = await campaign_for(world, [*ids, no_consent, deleted], "Hi {{firstName}}, {{attributes.city|friend}}")
    summary = await start(world, campaign)
    assert summary == {"recipients": 1, "segments": 1, "costMinor": 2, "skipped": {
        "opted_out": 1, "undeliverable": 1, "no_consent": 1, "deleted": 1}}
    await world.drain(3)
    assert [(m["to"], m["body"]) for m in world.twilio.messages] == [(PHONES[0], "Hi Ana, friend")]
    with pytest.raises(campaigns.CampaignNotEditable):
        await start(world, campaign)
    stats = await campaign_stats(world.pool, await campaigns.get(world.pool, world.business_id, campaign.id),
                                 reply_window=CONFIG.reply_window())
    assert stats["skipped"] == {"opted_out": 1, "undeliverable": 1, "no_consent": 1, "deleted": 1}
    assert (stats["segments"], stats["costMinor"]) == (1, 2)


async def test_an_audience_nobody_may_get_is_refused(world: World) -> None:
    campaign = await campaign_for(world, [await world.contact(PHONES[0], consent=False)])
    with pytest.raises(campaigns.EmptyAudience):
        await start(world, campaign)


async def test_pause_holds_the_rest_resume_sends_it_cancel_drops_it(world: World) -> None:
    ids = [await world.contact(p) for p in PHONES]
    campaign = await campaign_for(world, ids)
    await start(world, campaign)
    assert await world.dispatcher.run_once() == 1, "one number at 1 MPS: one now, the rest spread"
    await campaigns.pause(world.pool, world.business_id, campaign.id)
    await world.drain(5)
    assert len(world.twilio.messages) == 1
    await resume(world, campaign)
    await world.drain(1)
    assert len(world.twilio.messages) == 2
    await campaigns.cancel(world.pool, world.business_id, campaign.id, now=world.clock.now)
    await world.drain(5)
    assert len(world.twilio.messages) == 2
    statuses = await world.pool.fetch("SELECT status FROM sms_outbox WHERE campaign_id = $1", campaign.id)
    assert sorted(r["status"] for r in statuses) == ["canceled", "sending", "sending"]
    with pytest.raises(campaigns.CampaignNotEditable):
        await resume(world, campaign)


async def test_stop_mid_campaign_stops_the_next_message_from_every_number(world: World) -> None:
    second = await world.number("+14155550111")
    ids = [await world.contact(p) for p in PHONES]
    campaign = await campaign_for(world, ids)
    await world.pool.execute("UPDATE campaigns SET from_number_ids = $2 WHERE id = $1", campaign.id, [second])
    await start(world, campaign)
    await world.dispatcher.run_once()
    await consent.opt_out(world.pool, world.business_id, PHONES[1], source=consent.Source.KEYWORD)
    await world.drain(4)
    assert [m["to"] for m in world.twilio.messages] == [PHONES[0], PHONES[2]]
    assert {m["from"] for m in world.twilio.messages} == {"+14155550111"}


async def test_a_campaign_pauses_itself_when_its_sends_keep_failing(world: World) -> None:
    world.dispatcher = Dispatcher(world.pool, world.carrier, dataclasses.replace(
        CONFIG, campaign_failure_window=2, campaign_failure_threshold=0.5), Currency.USD,
        status_callback_base=CALLBACK, clock=world.clock, rng=random.Random(7))
    world.twilio.fail("POST", r"Messages\.json$", status=400, code=21612, message="cannot route", times=2)
    campaign = await campaign_for(world, [await world.contact(p) for p in PHONES])
    await start(world, campaign)
    await world.drain(5)
    paused = await campaigns.get(world.pool, world.business_id, campaign.id)
    assert (paused.status, paused.pause_reason) == ("paused", "FAILURE_RATE")
    assert world.twilio.messages == []
