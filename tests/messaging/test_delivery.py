"""Status callbacks: forward only, duplicates and late ones change nothing, an early one still applies."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator

import asyncpg
import pytest

from billing.money import Currency
from messaging import consent, delivery
from tests.conftest import MakeBusiness
from tests.messaging.outbox_world import CONFIG, World, opened_world

START = datetime.datetime(2026, 7, 1, 16, 0, tzinfo=datetime.UTC)
OURS, ALICE = "+14155550100", "+14155550123"


@pytest.fixture
async def world(pool: asyncpg.Pool, make_business: MakeBusiness) -> AsyncIterator[World]:
    async with opened_world(pool, make_business, START) as world:
        await world.number(OURS)
        yield world


async def callback(world: World, message_id: object, sid: str, status: str, error_code: int | None = None) -> bool:
    assert isinstance(message_id, type(world.business_id))
    return await delivery.apply(world.pool, delivery.Callback(message_id, sid, status, error_code),
                                price_per_segment=CONFIG.price_per_segment_minor, currency=Currency.USD,
                                now=world.clock.now)


async def history(world: World, message_id: object) -> list[str]:
    rows = await world.pool.fetch("SELECT status FROM sms_status_events WHERE message_id = $1 ORDER BY id",
                                  message_id)
    return [r["status"] for r in rows]


async def test_reordered_and_duplicated_callbacks_end_delivered(world: World) -> None:
    message = await world.text(ALICE)
    await world.dispatcher.run_once()
    sid = world.twilio.messages[0]["sid"]
    assert await callback(world, message.id, sid, "delivered")
    assert not await callback(world, message.id, sid, "sent"), "a late `sent` changes nothing"
    assert not await callback(world, message.id, sid, "delivered"), "a duplicate changes nothing"
    assert not await callback(world, message.id, sid, "queued")
    assert await world.status(message.id) == "delivered"
    assert await history(world, message.id) == ["queued", "sending", "sending", "delivered"]


async def test_an_early_callback_supplies_the_sid_and_the_message_is_paid_once(world: World) -> None:
    """The callback overtakes Twilio's answer to the create: found by our id, the create's answer then adds nothing."""
    message = await world.text(ALICE)
    world.twilio.slow_answer("POST", r"Messages\.json$", 0.2)
    sending = asyncio.create_task(world.dispatcher.run_once())
    while not world.twilio.messages:
        await asyncio.sleep(0.01)
    sid = world.twilio.messages[0]["sid"]
    assert await callback(world, message.id, sid, "sent")
    await sending
    assert await world.status(message.id) == "sent"
    entries = await world.pool.fetch("SELECT idempotency_key, amount FROM ledger_entries WHERE kind = 'sms_usage'")
    assert [(e["idempotency_key"], e["amount"]) for e in entries] == [(f"sms:{sid}", -2)]


async def test_a_callback_for_another_sid_or_an_unknown_message_is_ignored(world: World) -> None:
    message = await world.text(ALICE)
    await world.dispatcher.run_once()
    assert not await callback(world, message.id, "SM" + "0" * 32, "delivered")
    assert not await callback(world, world.business_id, "SM" + "1" * 32, "delivered")
    assert await world.status(message.id) == "sending"


async def test_an_unreachable_phone_is_marked_from_the_final_callback(world: World) -> None:
    message = await world.text(ALICE)
    await world.dispatcher.run_once()
    assert await callback(world, message.id, world.twilio.messages[0]["sid"], "undelivered", 30006)
    assert await consent.is_undeliverable(world.pool, world.business_id, ALICE)
    row = await world.pool.fetchrow("SELECT status, error_code FROM sms_outbox WHERE id = $1", message.id)
    assert row is not None
    assert (row["status"], row["error_code"]) == ("undelivered", 30006)
