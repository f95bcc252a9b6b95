"""The reconciler: texts whose final status never came back are looked up in Twilio an hour on, applied forward only."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator

import asyncpg
import pytest

from agent_server import messaging_jobs
from billing import ledger
from billing.money import Currency
from jobs.config import JobsConfig
from jobs.runner import Recurring, Runner
from jobs.schedule import Schedule
from messaging import campaigns, consent, delivery
from messaging.campaign_start import start
from messaging.reconciler import RECONCILE_KIND, RECONCILE_SCHEDULE, Reconciler
from tests.conftest import MakeBusiness, MakeSettings
from tests.messaging.outbox_world import CONFIG, World, opened_world

START = datetime.datetime(2026, 7, 1, 16, 0, tzinfo=datetime.UTC)  # noon in New York
PHONES = ["+14155550121", "+14155550122", "+14155550123"]
MINUTE = 60.0


@pytest.fixture
async def world(pool: asyncpg.Pool, make_business: MakeBusiness) -> AsyncIterator[World]:
    async with opened_world(pool, make_business, START) as world:
        await world.number("+14155550100")
        yield world


def reconciler(world: World) -> Reconciler:
    return Reconciler(world.pool, world.carrier, CONFIG, Currency.USD, clock=world.clock)


def lookups(world: World) -> list[str]:
    """The sids the reconciler asked Twilio for, in order."""
    return [r.path.removeprefix("Messages/").removesuffix(".json")
            for r in world.twilio.requests_to("GET", r"^Messages/SM")]


def twilio_says(world: World, sid: str, status: str, error_code: int | None = None) -> None:
    message = next(m for m in world.twilio.messages if m["sid"] == sid)
    message.update(status=status, error_code=error_code)


async def sent_texts(world: World, count: int) -> list[tuple[object, str]]:
    """`count` texts sent (a second apart, the number's pace) and still `sending`: (message id, sid) each."""
    messages = [await world.text(phone) for phone in PHONES[:count]]
    await world.drain(count)
    sids = {m["to"]: m["sid"] for m in world.twilio.messages}
    return [(m.id, sids[m.to_phone]) for m in messages]


async def events(world: World, message_id: object) -> list[tuple[str, str]]:
    rows = await world.pool.fetch("SELECT status, source FROM sms_status_events WHERE message_id = $1 ORDER BY id",
                                  message_id)
    return [(r["status"], r["source"]) for r in rows]


async def test_a_text_whose_callback_never_came_is_settled_from_twilio_an_hour_after_sending(world: World) -> None:
    [(message_id, sid)] = await sent_texts(world, 1)
    twilio_says(world, sid, "delivered")
    world.clock.advance(58 * MINUTE)
    assert await reconciler(world).run() == 0
    assert lookups(world) == [], "not an hour old yet"
    world.clock.advance(2 * MINUTE)
    assert await reconciler(world).run() == 1
    assert lookups(world) == [sid]
    assert await world.status(message_id) == "delivered"
    assert (await events(world, message_id))[-1] == ("delivered", "reconciler")
    debits = await world.pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'sms_usage'")
    assert debits == 1, "paid once, when Twilio took it"


async def test_the_last_open_text_of_a_campaign_settled_completes_it_and_releases_its_hold(world: World) -> None:
    ids = [await world.contact(p) for p in PHONES]
    campaign = await campaigns.create(world.pool, world.business_id, campaigns.NewCampaign(
        "Spring", "Hi {{firstName}}", campaigns.Audience(contact_ids=ids), "marketing"))
    await start(world.pool, world.business_id, campaign.id, CONFIG, Currency.USD, now=world.clock.now)
    await world.drain(3)
    rows = await world.pool.fetch("SELECT id, message_sid FROM sms_outbox WHERE campaign_id = $1 ORDER BY to_phone",
                                  campaign.id)
    for row in rows[:2]:
        assert await delivery.apply(world.pool, delivery.Callback(row["id"], row["message_sid"], "delivered", None),
                                    price_per_segment=CONFIG.price_per_segment_minor, currency=Currency.USD,
                                    now=world.clock.now)
    assert not await campaigns.finish_if_done(world.pool, campaign.id), "one text has no final status"
    assert (await campaigns.get(world.pool, world.business_id, campaign.id)).status == "sending"
    twilio_says(world, rows[2]["message_sid"], "undelivered", 30006)
    world.clock.advance(61 * MINUTE)
    assert await reconciler(world).run() == 1
    assert lookups(world) == [rows[2]["message_sid"]], "the two settled by their callbacks are not looked up"
    assert (await campaigns.get(world.pool, world.business_id, campaign.id)).status == "completed"
    found = await ledger.get_wallet(world.pool, world.business_id, Currency.USD)
    assert found is not None and found.held == 0, "the hold was released"
    assert await consent.is_undeliverable(world.pool, world.business_id, PHONES[2]), "the same path as a callback"


async def test_a_text_twilio_still_has_open_is_looked_up_at_twice_its_age_until_the_give_up(world: World) -> None:
    [(message_id, sid)] = await sent_texts(world, 1)
    twilio_says(world, sid, "sent")
    seen = []
    for minutes in (61, 100, 123, 200, 247, 480, 500, 1001, 2003, 4010, 4400):
        world.clock.now = START + datetime.timedelta(minutes=minutes)
        await reconciler(world).run()
        seen.append(len(lookups(world)))
    assert seen == [1, 1, 2, 2, 3, 3, 4, 5, 6, 7, 7], "each at twice the age of the last; none past 72 h"
    assert await world.status(message_id) == "sent", "applied once, forward only"
    assert await events(world, message_id) == [("queued", "api"), ("sending", "dispatcher"),
                                               ("sending", "twilio-accepted"), ("sent", "reconciler")]


async def test_two_reconcilers_at_once_look_each_text_up_once(world: World) -> None:
    texts = await sent_texts(world, 3)
    for _, sid in texts:
        twilio_says(world, sid, "delivered")
    world.clock.advance(61 * MINUTE)
    first, second = reconciler(world), reconciler(world)
    changed = await asyncio.gather(first.run(batch=1), second.run(batch=1))
    assert sum(changed) == 3
    assert sorted(lookups(world)) == sorted(sid for _, sid in texts)


async def test_a_lookup_twilio_fails_or_does_not_know_changes_nothing(world: World) -> None:
    [(first_id, _), (unknown_id, unknown_sid)] = await sent_texts(world, 2)
    world.twilio.messages[:] = [m for m in world.twilio.messages if m["sid"] != unknown_sid]
    world.twilio.fail("GET", r"^Messages/SM", status=500, code=20500, message="boom")
    world.clock.advance(61 * MINUTE)
    assert await reconciler(world).run() == 0
    assert [await world.status(m) for m in (first_id, unknown_id)] == ["sending", "sending"]
    assert len(lookups(world)) == 2


async def test_two_runners_enqueue_one_reconcile_per_due_time(world: World) -> None:
    [(message_id, sid)] = await sent_texts(world, 1)
    twilio_says(world, sid, "delivered")
    runners = [Runner(world.pool, {RECONCILE_KIND: reconciler(world)}, JobsConfig(),
                      recurring=[Recurring(RECONCILE_KIND, Schedule.parse(RECONCILE_SCHEDULE))],
                      clock=world.clock, worker_id=f"runner-{i}") for i in range(2)]
    await asyncio.gather(*(r.run_once() for r in runners))
    world.clock.advance(61 * MINUTE)
    assert sum(await asyncio.gather(*(r.run_once() for r in runners))) == 1
    assert await world.status(message_id) == "delivered"
    assert lookups(world) == [sid]


def test_the_reconciler_is_scheduled_only_where_twilio_is_configured(make_settings: MakeSettings) -> None:
    kinds = {r.kind for r in messaging_jobs.recurring(make_settings())}
    configured = {r.kind for r in messaging_jobs.recurring(make_settings(
        TWILIO_ACCOUNT_SID="AC" + "0" * 32, TWILIO_AUTH_TOKEN="token"))}
    assert kinds == {"messaging.retention"}
    assert configured == {"messaging.retention", RECONCILE_KIND}
