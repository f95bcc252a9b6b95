"""A campaign's wallet hold: the estimate reserved, each accepted text captured exactly, a pause on an empty wallet,
a resume after a top-up, the rest released at the end (ledger conservation is checked after every test)."""

from __future__ import annotations

import asyncio
import datetime
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from billing import ledger
from billing.money import Currency, Money
from messaging import campaigns, delivery, outbox
from messaging.campaign_funds import INSUFFICIENT_BALANCE, resume_all_funded
from messaging.campaign_schedule import finish_done, start_due
from messaging.campaign_start import start
from messaging.charges import pay_recorded, record_accepted
from messaging.claiming import claim
from messaging.sending import InsufficientBalance
from tests.conftest import MakeBusiness, fund_wallet
from tests.messaging.outbox_world import CONFIG, World, opened_world

START = datetime.datetime(2026, 7, 1, 16, 0, tzinfo=datetime.UTC)  # noon in New York
PHONES = ["+14155550121", "+14155550122", "+14155550123"]
PRICE = CONFIG.price_per_segment_minor


@pytest.fixture
async def world(pool: asyncpg.Pool, make_business: MakeBusiness) -> AsyncIterator[World]:
    async with opened_world(pool, make_business, START, funded=False) as world:
        await world.number("+18005550100", "toll_free")
        yield world


async def campaign_for(world: World, notes: list[str], **extra: object) -> campaigns.Campaign:
    """A transactional campaign to the first len(notes) PHONES; each body is its contact's note."""
    ids = []
    for phone, note in zip(PHONES, notes, strict=False):
        contact_id = await world.contact(phone)
        await world.pool.execute("UPDATE contacts SET attributes = $2 WHERE id = $1", contact_id, {"note": note})
        ids.append(contact_id)
    return await campaigns.create(world.pool, world.business_id, campaigns.NewCampaign(
        "Notes", "{{attributes.note}}", campaigns.Audience(contact_ids=ids), "transactional", **extra),
        now=world.clock.now)


async def wallet(world: World) -> tuple[int, int]:
    found = await ledger.get_wallet(world.pool, world.business_id, Currency.USD)
    assert found is not None
    return found.balance, found.held


async def hold_of(world: World, campaign_id: uuid.UUID) -> tuple[int, str] | None:
    row = await world.pool.fetchrow("SELECT h.amount, h.status FROM holds h JOIN campaigns c ON c.hold_id = h.id"
                                    " WHERE c.id = $1", campaign_id)
    return None if row is None else (row["amount"], row["status"])


async def debits(world: World) -> list[tuple[str, int, bool]]:
    """(key, amount, paid from a hold) of every SMS debit, oldest first."""
    rows = await world.pool.fetch("SELECT idempotency_key, amount, hold_id IS NOT NULL AS held FROM ledger_entries"
                                  " WHERE kind = 'sms_usage' ORDER BY id")
    return [(r["idempotency_key"], r["amount"], r["held"]) for r in rows]


async def empty_wallet(world: World) -> None:
    balance, _ = await wallet(world)
    if balance:
        await ledger.debit(world.pool, business_id=world.business_id, amount=Money(balance, Currency.USD),
                           kind=ledger.EntryKind.ADJUSTMENT, idempotency_key=f"empty:{uuid.uuid4()}",
                           reference="test", actor="tests")


async def delivered(world: World) -> None:
    """Twilio's `delivered` callback for every text it has."""
    for sent in world.twilio.messages:
        message_id = uuid.UUID(sent["status_callback"].rsplit("m=", 1)[1])
        await delivery.apply(world.pool, delivery.Callback(message_id, sent["sid"], "delivered", None),
                             price_per_segment=PRICE, currency=Currency.USD, now=world.clock.now)


async def tick(world: World) -> list[uuid.UUID]:
    return await resume_all_funded(world.pool, PRICE, Currency.USD, now=world.clock.now)


async def test_the_estimate_is_held_and_each_text_captures_exactly_its_segments(world: World) -> None:
    await fund_wallet(world.pool, world.business_id, 1_000)
    campaign = await campaign_for(world, ["short", "x" * 200, "ünïcode ✓"])
    summary = await start(world.pool, world.business_id, campaign.id, CONFIG, Currency.USD, now=world.clock.now)
    assert (summary["segments"], summary["costMinor"]) == (4, 4 * PRICE)
    assert await hold_of(world, campaign.id) == (8, "active")
    assert await wallet(world) == (1_000, 8)
    await world.drain(3)
    by_sid = {m["sid"]: m["to"] for m in world.twilio.messages}
    segments = {PHONES[0]: 1, PHONES[1]: 2, PHONES[2]: 1}
    assert sorted(await debits(world)) == sorted((f"sms:{sid}", -segments[to] * PRICE, True)
                                                  for sid, to in by_sid.items())
    assert await hold_of(world, campaign.id) == (0, "active")
    assert await wallet(world) == (992, 0)
    await delivered(world)
    assert await finish_done(world.pool) == [campaign.id]
    assert await hold_of(world, campaign.id) == (0, "released")
    assert len(await debits(world)) == 3, "a replayed callback charges nothing more"


async def test_cancel_releases_what_the_hold_still_reserves(world: World) -> None:
    await fund_wallet(world.pool, world.business_id, 1_000)
    await world.pool.execute("UPDATE business_numbers SET number_type = 'local'")
    campaign = await campaign_for(world, ["one", "two", "three"])
    await start(world.pool, world.business_id, campaign.id, CONFIG, Currency.USD, now=world.clock.now)
    assert await world.dispatcher.run_once() == 1, "a long code: one now, two later"
    assert await hold_of(world, campaign.id) == (4, "active")
    await campaigns.cancel(world.pool, world.business_id, campaign.id, now=world.clock.now)
    assert await hold_of(world, campaign.id) == (0, "released")
    assert await wallet(world) == (1_000 - PRICE, 0)
    await world.drain(3)
    assert len(world.twilio.messages) == 1 and len(await debits(world)) == 1


async def test_a_send_refuses_a_wallet_that_cannot_hold_the_estimate_and_changes_nothing(world: World) -> None:
    await fund_wallet(world.pool, world.business_id, 5)
    campaign = await campaign_for(world, ["one", "two", "three"])
    with pytest.raises(InsufficientBalance):
        await start(world.pool, world.business_id, campaign.id, CONFIG, Currency.USD, now=world.clock.now)
    assert (await campaigns.get(world.pool, world.business_id, campaign.id)).status == "draft"
    assert await world.pool.fetchval("SELECT count(*) FROM sms_outbox") == 0
    assert await wallet(world) == (5, 0)


async def test_a_scheduled_start_on_an_empty_wallet_pauses_and_a_top_up_resumes_it(world: World) -> None:
    campaign = await campaign_for(world, ["one", "two"], send_at=START + datetime.timedelta(minutes=1))
    world.clock.advance(60)
    assert await start_due(world.pool, CONFIG, Currency.USD, now=world.clock.now) == [campaign.id]
    paused = await campaigns.get(world.pool, world.business_id, campaign.id)
    assert (paused.status, paused.pause_reason, paused.hold_id) == ("paused", INSUFFICIENT_BALANCE, None)
    await world.drain(2)
    assert world.twilio.messages == []
    assert await tick(world) == [], "still nothing to pay with"
    await fund_wallet(world.pool, world.business_id, 3)
    assert await tick(world) == [], "3 can't hold the 4 two texts cost"
    await fund_wallet(world.pool, world.business_id, 1)
    assert await tick(world) == [campaign.id]
    assert await hold_of(world, campaign.id) == (4, "active")
    await world.drain(2)
    assert [(key.startswith("sms:SM"), amount, held) for key, amount, held in await debits(world)] == \
        [(True, -2, True), (True, -2, True)]
    assert await wallet(world) == (0, 0)


async def test_texts_beyond_the_hold_extend_it_or_pause_the_campaign_until_a_top_up(world: World) -> None:
    await fund_wallet(world.pool, world.business_id, 4)
    campaign = await campaign_for(world, ["one", "two"])
    await start(world.pool, world.business_id, campaign.id, CONFIG, Currency.USD, now=world.clock.now)
    await world.drain(2)
    assert await wallet(world) == (0, 0)
    first = world.twilio.messages[0]
    message_id = uuid.UUID(first["status_callback"].rsplit("m=", 1)[1])
    await delivery.apply(world.pool, delivery.Callback(message_id, first["sid"], "undelivered", 30003),
                         price_per_segment=PRICE, currency=Currency.USD, now=world.clock.now)
    await outbox.retry(world.pool, world.business_id, message_id, now=world.clock.now)
    await world.drain(2)
    paused = await campaigns.get(world.pool, world.business_id, campaign.id)
    assert (paused.status, paused.pause_reason) == ("paused", INSUFFICIENT_BALANCE)
    assert len(world.twilio.messages) == 2, "the retry waits: its cost was paid once already"
    with pytest.raises(InsufficientBalance):
        await campaigns.resume(world.pool, world.business_id, campaign.id, price_per_segment=PRICE,
                               currency=Currency.USD, now=world.clock.now)
    await fund_wallet(world.pool, world.business_id, 2)
    assert await tick(world) == [campaign.id]
    await world.drain(2)
    assert len(world.twilio.messages) == 3
    assert [amount for _, amount, _ in await debits(world)] == [-2, -2, -2]
    assert await wallet(world) == (0, 0)


async def test_a_text_recorded_by_its_answer_and_its_early_callback_at_once_is_paid_once(world: World) -> None:
    await fund_wallet(world.pool, world.business_id, 1_000)
    campaign = await campaign_for(world, ["one"])
    await start(world.pool, world.business_id, campaign.id, CONFIG, Currency.USD, now=world.clock.now)
    async with world.pool.acquire() as conn, conn.transaction():
        [claimed] = (await claim(conn, CONFIG, now=world.clock.now)).sends
    sid = "SM" + "a" * 32

    async def answer() -> None:
        async with world.pool.acquire() as conn, conn.transaction():
            await record_accepted(conn, claimed.message.id, sid, price_per_segment=PRICE, currency=Currency.USD)

    callback = delivery.apply(world.pool, delivery.Callback(claimed.message.id, sid, "sent", None),
                              price_per_segment=PRICE, currency=Currency.USD, now=world.clock.now)
    await asyncio.gather(answer(), callback, answer())
    assert await debits(world) == [], "recorded, paid by the next payment"
    paid = await asyncio.gather(*(pay_recorded(world.pool, Currency.USD, now=world.clock.now) for _ in range(2)))
    assert sorted(paid) == [0, 1], "two payers at once: one takes the text"
    assert await debits(world) == [(f"sms:{sid}", -PRICE, True)]
    assert await hold_of(world, campaign.id) == (0, "active")
