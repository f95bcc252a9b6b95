"""calendar_booking on the built-in local calendar: one booking per slot under concurrency, one per tool call, and
alternatives for a taken, past or closed slot, in the business's timezone."""

from __future__ import annotations

import asyncio
import datetime
import time
import uuid
from typing import Any

import asyncpg
import msgspec

from automations.action_config import CalendarConfig
from automations.action_runner import ActionServices
from automations.action_tools import ActionTools, load_action_tools
from automations.calendar_local import LocalCalendar
from automations.calendar_provider import zone
from tests.automations.action_fixtures import make_action, services
from tests.automations.conftest import Shop
from tests.fake_calendar import FakeCalendar

__all__ = ["services"]
# A Monday, 10:00 in London (GMT in December); the calendar opens 09:00-17:00 on weekdays, 30-minute slots.
NOW = datetime.datetime(2026, 12, 7, 10, 0, tzinfo=datetime.UTC)


async def _calendar(pool: asyncpg.Pool, shop: Shop, services: ActionServices) -> ActionTools:
    await pool.execute("UPDATE businesses SET timezone = 'Europe/London' WHERE id = $1", shop.tenant.business_id)
    await make_action(pool, shop, {"type": "calendar_booking", "name": "book_visit",
                                   "description": "Book a visit to the bakery", "configuration": {}})
    return await load_action_tools(pool, shop.tenant.business_id, shop.agent_id,
                                   services=ActionServices(services.session, clock=lambda: NOW))


async def _book(tools: ActionTools, start: str, key: str) -> tuple[bool, dict[str, Any]]:
    outcome = await tools.run("book_visit", msgspec.json.encode({"operation": "book", "start": start,
                                                                 "name": "Ada"}).decode(),
                              key=key, conversation_id=None, channel="sms")
    told: dict[str, Any] = msgspec.json.decode(outcome.content)["result"]
    return outcome.ok, told


async def test_twenty_concurrent_bookings_of_one_slot_make_exactly_one(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices) -> None:
    tools = await _calendar(pool, shop, services)
    answers = await asyncio.gather(*(_book(tools, "2026-12-08T10:00", f"conv:{i}") for i in range(20)))
    booked = [told for ok, told in answers if ok]
    assert len(booked) == 1 and booked[0]["start"] == "2026-12-08T10:00+00:00"
    refused = [told for ok, told in answers if not ok]
    assert {t["reason"] for t in refused} == {"taken"}
    assert refused[0]["alternatives"] == ["2026-12-08T10:30+00:00", "2026-12-08T11:00+00:00",
                                          "2026-12-08T11:30+00:00"]
    assert await pool.fetchval("SELECT count(*) FROM calendar_bookings WHERE status = 'booked'") == 1


async def test_the_same_tool_call_id_twice_books_once(pool: asyncpg.Pool, shop: Shop, services: ActionServices) -> None:
    tools = await _calendar(pool, shop, services)
    first, again = await asyncio.gather(*(_book(tools, "2026-12-08T14:00", "conv-1:call_abc") for _ in range(2)))
    later = await _book(tools, "2026-12-08T14:00", "conv-1:call_abc")
    assert first == again == later and first[0]
    assert await pool.fetchval("SELECT count(*) FROM calendar_bookings") == 1


async def test_the_providers_idempotency_key_alone_books_once(pool: asyncpg.Pool, shop: Shop,
                                                              services: ActionServices) -> None:
    await _calendar(pool, shop, services)
    calendar_id = await pool.fetchval("SELECT id FROM actions")
    calendar = LocalCalendar(pool, shop.tenant.business_id, calendar_id, CalendarConfig(), zone("Europe/London"))
    start = datetime.datetime(2026, 12, 9, 9, 0, tzinfo=zone("Europe/London"))
    made = [await calendar.book(start, name="Ada", details={}, idempotency_key="k1", now=NOW) for _ in range(2)]
    assert made[0] is not None and made[0] == made[1]


async def test_a_past_closed_or_too_far_slot_is_refused_with_at_most_three_alternatives(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices) -> None:
    tools = await _calendar(pool, shop, services)
    ok, past = await _book(tools, "2026-12-07T09:00", "c:past")
    assert not ok and past["reason"] == "past"
    assert past["alternatives"] == ["2026-12-07T10:30+00:00", "2026-12-07T11:00+00:00", "2026-12-07T11:30+00:00"]
    ok, closed = await _book(tools, "2026-12-12T10:00", "c:saturday")
    assert not ok and closed["reason"] == "closed"
    assert closed["alternatives"][0] == "2026-12-14T09:00+00:00" and len(closed["alternatives"]) == 3
    ok, odd = await _book(tools, "2026-12-08T10:10", "c:odd")
    assert not ok and odd["reason"] == "closed"
    ok, far = await _book(tools, "2027-06-01T10:00", "c:far")
    assert not ok and far["reason"] == "too_far"
    assert await pool.fetchval("SELECT count(*) FROM calendar_bookings") == 0


async def test_availability_leaves_out_booked_slots_and_cancel_frees_them(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices) -> None:
    tools = await _calendar(pool, shop, services)
    ok, booked = await _book(tools, "2026-12-08T09:30", "c:one")
    assert ok

    async def free() -> list[str]:
        outcome = await tools.run("book_visit", '{"operation": "availability", "date": "2026-12-08"}',
                                  key=f"c:{uuid.uuid4()}", conversation_id=None, channel="sms")
        slots: list[str] = msgspec.json.decode(outcome.content)["result"]["freeSlots"]
        return slots

    slots = await free()
    assert len(slots) == 15 and "2026-12-08T09:30+00:00" not in slots and slots[0] == "2026-12-08T09:00+00:00"
    cancel = await tools.run("book_visit", msgspec.json.encode({"operation": "cancel",
                                                               "bookingId": booked["bookingId"]}).decode(),
                             key="c:cancel", conversation_id=None, channel="sms")
    assert cancel.ok
    assert len(await free()) == 16


async def _remote(pool: asyncpg.Pool, shop: Shop, services: ActionServices, calendar: FakeCalendar,
                  timeout_ms: int = 10_000) -> ActionTools:
    action = await make_action(pool, shop, {"type": "calendar_booking", "name": "book_visit", "timeoutMs": timeout_ms,
                                            "configuration": {"provider": "remote", "baseUrl": calendar.base_url}})
    calendar.secret = action.signing_secret
    return await load_action_tools(pool, shop.tenant.business_id, shop.agent_id,
                                   services=ActionServices(services.session, services.allowed_private_hosts,
                                                           clock=lambda: NOW))


async def test_a_remote_calendar_books_once_per_key_and_offers_its_free_slots(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices) -> None:
    async with FakeCalendar() as calendar:
        tools = await _remote(pool, shop, services, calendar)
        first = await _book(tools, "2026-12-08T10:00", "conv:call_1")
        again = await _book(tools, "2026-12-08T10:00", "conv:call_1")
        ok, taken = await _book(tools, "2026-12-08T10:00", "conv:call_2")
    assert first == again and first[0] and len(calendar.bookings) == 1
    assert not ok and taken["reason"] == "taken"
    assert taken["alternatives"] == ["2026-12-08T10:30+00:00", "2026-12-08T11:00+00:00", "2026-12-08T11:30+00:00"]


async def test_a_slow_remote_calendar_times_out_at_the_actions_timeout(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices) -> None:
    async with FakeCalendar() as calendar:
        calendar.delay = 5
        tools = await _remote(pool, shop, services, calendar, timeout_ms=300)
        started = time.monotonic()
        outcome = await tools.run("book_visit", '{"operation": "book", "start": "2026-12-08T10:00"}',
                                  key="conv:slow", conversation_id=None, channel="voice")
        assert time.monotonic() - started < 2
    assert not outcome.ok and "within 0.3 s" in outcome.content
    assert await pool.fetchval("SELECT status FROM action_executions") == "timed_out"
