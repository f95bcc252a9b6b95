"""Calls paid by the second: exact across checkpoints, stop on empty, crashes settled once."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import asyncpg

from billing import call_meter, ledger
from billing.ledger import EntryKind
from billing.money import Currency, Money
from billing.pricing import Prices, voice_charge
from tests.conftest import MakeBusiness

RATE = 120  # 1.20 USD a minute = 2 cents a second
PRICES = Prices(Currency.USD, voice_per_minute=RATE, sms_per_reply=2, chat_per_1k_tokens=1)


async def funded(pool: asyncpg.Pool, make_business: MakeBusiness, amount: int) -> uuid.UUID:
    tenant = await make_business()
    if amount:
        await ledger.credit(pool, business_id=tenant.business_id, amount=Money(amount, Currency.USD),
                            kind=EntryKind.TOPUP, idempotency_key=f"seed:{uuid.uuid4()}", reference="seed",
                            actor="test")
    return tenant.business_id


async def wallet(pool: asyncpg.Pool, business_id: uuid.UUID) -> ledger.Wallet:
    found = await ledger.get_wallet(pool, business_id, Currency.USD)
    assert found is not None
    return found


async def call_entries(pool: asyncpg.Pool, call_sid: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT amount, idempotency_key FROM ledger_entries WHERE reference = $1 ORDER BY id",
                            f"call:{call_sid}")


async def open_call(pool: asyncpg.Pool, business_id: uuid.UUID, sid: str) -> call_meter.Meter | None:
    return await call_meter.open_meter(pool, business_id=business_id, call_sid=sid, prices=PRICES, wanted=60,
                                       minimum=10, lease_seconds=120)


async def test_checkpoints_and_settle_charge_exactly_the_seconds_used(pool: asyncpg.Pool,
                                                                       make_business: MakeBusiness) -> None:
    business = await funded(pool, make_business, 10_000)
    meter = await open_call(pool, business, "CA1")
    assert meter is not None and meter.granted_seconds == 60
    assert (await wallet(pool, business)).held == voice_charge(60, RATE)
    for used in (15, 30, 45):
        await call_meter.checkpoint(pool, "CA1", used_seconds=used, grant_ahead=60, lease_seconds=120)
    settled = await call_meter.settle(pool, "CA1", used_seconds=52, source="stop")
    assert settled.settled_seconds == 52
    entries = await call_entries(pool, "CA1")
    assert sum(-e["amount"] for e in entries) == voice_charge(52, RATE)
    assert [e["idempotency_key"] for e in entries][-1] == "call:CA1:settle"
    after = await wallet(pool, business)
    assert after.balance == 10_000 - voice_charge(52, RATE) and after.held == 0


async def test_call_is_refused_when_the_wallet_cannot_cover_the_minimum(pool: asyncpg.Pool,
                                                                        make_business: MakeBusiness) -> None:
    business = await funded(pool, make_business, voice_charge(9, RATE))
    assert await open_call(pool, business, "CA2") is None
    assert (await wallet(pool, business)).held == 0
    assert await pool.fetchval("SELECT count(*) FROM holds") == 0


async def test_grant_stops_where_the_money_does(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    business = await funded(pool, make_business, voice_charge(37, RATE))
    meter = await open_call(pool, business, "CA3")
    assert meter is not None and meter.granted_seconds == 37
    meter = await call_meter.checkpoint(pool, "CA3", used_seconds=15, grant_ahead=60, lease_seconds=120)
    assert meter.granted_seconds == 37
    settled = await call_meter.settle(pool, "CA3", used_seconds=44, source="stop")
    assert settled.settled_seconds == 37
    after = await wallet(pool, business)
    assert after.available == 0 and after.balance == 0


async def test_a_top_up_mid_call_extends_the_grant(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    business = await funded(pool, make_business, voice_charge(30, RATE))
    assert (await open_call(pool, business, "CA4")) is not None
    await ledger.credit(pool, business_id=business, amount=Money(10_000, Currency.USD), kind=EntryKind.TOPUP,
                        idempotency_key="topup-mid-call", reference="seed", actor="test")
    meter = await call_meter.checkpoint(pool, "CA4", used_seconds=15, grant_ahead=60, lease_seconds=120)
    assert meter.granted_seconds == 75


async def test_settling_twice_charges_once(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    business = await funded(pool, make_business, 10_000)
    await open_call(pool, business, "CA5")
    await asyncio.gather(*(call_meter.settle(pool, "CA5", used_seconds=20, source="stop") for _ in range(5)))
    await call_meter.settle(pool, "CA5", used_seconds=50, source="late duplicate")
    assert sum(-e["amount"] for e in await call_entries(pool, "CA5")) == voice_charge(20, RATE)


async def expire_holds(pool: asyncpg.Pool) -> None:
    await pool.execute("UPDATE holds SET expires_at = now() - interval '1 second' WHERE status = 'active'")


async def test_crashed_call_is_settled_once_from_its_last_checkpoint(database_url: str, pool: asyncpg.Pool,
                                                                     make_business: MakeBusiness) -> None:
    business = await funded(pool, make_business, 10_000)
    await open_call(pool, business, "CA6")
    await call_meter.checkpoint(pool, "CA6", used_seconds=15, grant_ahead=60, lease_seconds=120)
    await expire_holds(pool)
    other = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
    try:
        results = await asyncio.gather(call_meter.sweep(pool), call_meter.sweep(other), call_meter.sweep(pool))
    finally:
        await other.close()
    assert sum(len(r) for r in results) >= 1
    entries = await call_entries(pool, "CA6")
    assert sum(-e["amount"] for e in entries) == voice_charge(15, RATE)
    meter = await call_meter.get_meter(pool, "CA6")
    assert meter is not None and meter.settle_source == "sweeper:checkpoint"
    assert (await wallet(pool, business)).held == 0


async def test_sweeper_prefers_twilio_call_duration(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    business = await funded(pool, make_business, 10_000)
    await open_call(pool, business, "CA7")
    await call_meter.checkpoint(pool, "CA7", used_seconds=15, grant_ahead=60, lease_seconds=120)
    await pool.execute("INSERT INTO calls (call_sid, business_id, from_number, to_number, twilio_duration_seconds)"
                       " VALUES ('CA7', $1, '+15550001', '+15550002', 23)", business)
    await expire_holds(pool)
    await call_meter.sweep(pool)
    assert sum(-e["amount"] for e in await call_entries(pool, "CA7")) == voice_charge(23, RATE)


async def test_sweeper_leaves_live_calls_alone(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    business = await funded(pool, make_business, 10_000)
    await open_call(pool, business, "CA8")
    assert await call_meter.sweep(pool, now=datetime.datetime.now(datetime.UTC)) == []
    meter = await call_meter.get_meter(pool, "CA8")
    assert meter is not None and meter.open


async def test_many_concurrent_calls_never_overdraw_a_small_wallet(database_url: str, pool: asyncpg.Pool,
                                                                   make_business: MakeBusiness) -> None:
    budget = voice_charge(100, RATE)  # enough for 100 seconds in total
    business = await funded(pool, make_business, budget)
    pools = [await asyncpg.create_pool(database_url, min_size=1, max_size=3) for _ in range(3)]
    try:
        async def one_call(i: int) -> int:
            db = pools[i % len(pools)]
            sid = f"CA-many-{i}"
            meter = await open_call(db, business, sid)
            if meter is None:
                return 0
            meter = await call_meter.checkpoint(db, sid, used_seconds=15, grant_ahead=60, lease_seconds=120)
            return (await call_meter.settle(db, sid, used_seconds=90, source="stop")).settled_seconds or 0

        seconds = await asyncio.gather(*(one_call(i) for i in range(12)))
    finally:
        for p in pools:
            await p.close()
    after = await wallet(pool, business)
    assert after.held == 0 and after.available >= 0
    assert budget - after.balance == sum(voice_charge(s, RATE) for s in seconds)
    assert sum(seconds) <= 100
