"""The dispatcher's pace and pipeline: a fast number's rows sent at their slots from one claim, its own slow sends
never taken for a dead process's, payment after recording."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import random
from collections.abc import AsyncIterator

import asyncpg
import pytest

from billing.money import Currency
from jobs.runner import utc_now
from storage.transactions import transaction
from messaging.claiming import claim
from messaging.dispatcher import Dispatcher
from tests.conftest import MakeBusiness
from tests.messaging.outbox_world import CALLBACK, CONFIG, World, opened_world

OURS = "+14155550100"
PEOPLE = [f"+1415555{n:04d}" for n in range(1000, 1040)]


@pytest.fixture
async def world(pool: asyncpg.Pool, make_business: MakeBusiness) -> AsyncIterator[World]:
    async with opened_world(pool, make_business, datetime.datetime.now(datetime.UTC), timeout_seconds=2) as world:
        await world.number(OURS)
        yield world


def dispatcher(world: World, **config: object) -> Dispatcher:
    return Dispatcher(world.pool, world.carrier, dataclasses.replace(CONFIG, **config), Currency.USD,  # type: ignore[arg-type]
                      status_callback_base=CALLBACK, clock=utc_now, rng=random.Random(7))


async def test_a_fast_number_sends_the_rows_due_within_a_poll_from_one_claim(world: World) -> None:
    """At 100 MPS a slot comes every 10 ms: one claim takes the 26 within its 250 ms look-ahead (two polls of 125 ms),
    the rest wait their slots."""
    world.clock.now = utc_now()
    for phone in PEOPLE:
        await world.text(phone)
    fast = dispatcher(world, long_code_mps=100.0, poll_interval_seconds=0.125, claim_batch=50)
    assert await fast.run_once() == 26
    assert len(world.twilio.messages) == 26
    waiting = await world.pool.fetch("SELECT not_before FROM sms_outbox WHERE status = 'queued' ORDER BY not_before")
    assert len(waiting) == 14 and waiting[0]["not_before"] > world.clock.now
    debits = await world.pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'sms_usage'")
    assert debits == 26, "recorded as Twilio answered, paid after the claim's sends"


async def test_a_dispatcher_never_takes_its_own_slow_send_for_a_dead_processs(world: World) -> None:
    """Twilio answers after 0.6 s, past `stale_send_seconds`; while its sends are out the dispatcher claims again and
    must not queue them to be looked up and resent."""
    world.clock.now = utc_now()
    for phone in PEOPLE[:3]:
        await world.text(phone)
    world.twilio.slow_answer("POST", r"Messages\.json$", 0.6)
    slow = dispatcher(world, long_code_mps=100.0, stale_send_seconds=0.2, poll_interval_seconds=0.05)
    running = asyncio.create_task(slow.run())
    try:
        async with asyncio.timeout(10):
            while await world.pool.fetchval("SELECT count(*) FROM sms_outbox WHERE paid_at IS NULL"):
                await asyncio.sleep(0.05)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert len(world.twilio.requests_to("POST", r"Messages\.json$")) == 3
    assert world.twilio.requests_to("GET", r"Messages\.json$") == [], "nothing looked up: nothing was lost"


async def test_a_text_moved_to_its_slot_is_claimed_ahead_and_sent_on_it(world: World) -> None:
    """A long code's second text waits for its slot 1 s after the first. Claimed only once due, it went out at the
    claim's lateness and the number's next slot moved by as much (48 texts a minute instead of 60); claimed within
    the poll before it, it keeps its slot exactly."""
    start = world.clock.now
    for phone in PEOPLE[:2]:
        await world.text(phone)
    assert await world.dispatcher.run_once() == 1
    [waiting] = await world.pool.fetch("SELECT id, not_before FROM sms_outbox WHERE status = 'queued'")
    assert waiting["not_before"] == start + datetime.timedelta(seconds=1)
    config = dataclasses.replace(CONFIG, poll_interval_seconds=0.125)  # a look-ahead of 0.25 s
    for seconds, expected in ((0.7, []), (0.8, [start + datetime.timedelta(seconds=1)])):
        async with transaction(world.pool) as conn:
            taken = await claim(conn, config, now=start + datetime.timedelta(seconds=seconds))
        assert [c.send_at for c in taken.sends] == expected
        assert all(c.message.id == waiting["id"] for c in taken.sends)
