"""Holds for metered use: place, extend, capture, settle, release; keyed, expiring, never overdrawing."""

from __future__ import annotations

import asyncio
import datetime
import uuid

import asyncpg
import pytest

from billing import holds, ledger
from billing.errors import CurrencyMismatch, HoldNotActive, HoldNotFound, IdempotencyConflict, InsufficientFunds
from billing.ledger import EntryKind
from billing.money import Currency, Money
from tests.conftest import MakeBusiness

USD, INR = Currency.USD, Currency.INR
CALL = EntryKind.CALL_USAGE


def soon(seconds: int = 60) -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=seconds)


async def funded(pool: asyncpg.Pool, make_business: MakeBusiness, amount: int) -> uuid.UUID:
    tenant = await make_business()
    await ledger.credit(pool, business_id=tenant.business_id, amount=Money(amount, USD), kind=EntryKind.TOPUP,
                        idempotency_key=f"seed:{tenant.business_id}", reference="seed", actor="test")
    return tenant.business_id


async def wallet(pool: asyncpg.Pool, business_id: uuid.UUID) -> ledger.Wallet:
    found = await ledger.get_wallet(pool, business_id, USD)
    assert found is not None
    return found


async def test_call_lifecycle_checkpoints_then_settle(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """The issue-5 flow: hold 60 s, checkpoint, extend, settle exactly; the rest is released."""
    business = await funded(pool, make_business, 1000)
    hold = await holds.place_hold(pool, business_id=business, amount=Money(300, USD), expires_at=soon(),
                                  idempotency_key="call:CA1:hold", reference="call:CA1")
    assert (await wallet(pool, business)).available == 700
    checkpoint = await holds.capture(pool, hold.id, amount=Money(75, USD), kind=CALL,
                                     idempotency_key="call:CA1:checkpoint:1", actor="call", expires_at=soon(120))
    assert checkpoint.hold.amount == 225 and checkpoint.entry is not None and checkpoint.entry.amount == -75
    extended = await holds.extend_hold(pool, hold.id, amount=Money(75, USD), expires_at=soon(180),
                                       idempotency_key="call:CA1:extend:1")
    assert extended.amount == 300 and extended.expires_at > hold.expires_at
    settled = await holds.settle(pool, hold.id, amount=Money(110, USD), kind=CALL,
                                 idempotency_key="call:CA1:settle", actor="call")
    assert settled.hold.status == "settled" and settled.hold.amount == 0
    after = await wallet(pool, business)
    assert (after.balance, after.held, after.available) == (815, 0, 815)
    entries = await ledger.list_entries(pool, business, limit=10, kinds=[CALL])
    assert [(e.amount, e.hold_id) for e in entries] == [(-110, hold.id), (-75, hold.id)]


async def test_every_hold_operation_is_idempotent(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """Property 3 for holds: repeating any step with its key returns the first result and changes nothing."""
    business = await funded(pool, make_business, 1000)
    place = dict(business_id=business, amount=Money(200, USD), expires_at=soon(), idempotency_key="h",
                 reference="call:CA2")
    hold = await holds.place_hold(pool, **place)  # type: ignore[arg-type]
    assert await holds.place_hold(pool, **place) == hold  # type: ignore[arg-type]
    ext = await holds.extend_hold(pool, hold.id, amount=Money(50, USD), expires_at=soon(), idempotency_key="e1")
    assert (await holds.extend_hold(pool, hold.id, amount=Money(50, USD), expires_at=soon(),
                                    idempotency_key="e1")).amount == ext.amount == 250
    cap = await holds.capture(pool, hold.id, amount=Money(20, USD), kind=CALL, idempotency_key="c1", actor="a")
    again = await holds.capture(pool, hold.id, amount=Money(20, USD), kind=CALL, idempotency_key="c1", actor="a")
    assert again.entry == cap.entry
    done = await holds.settle(pool, hold.id, amount=Money(30, USD), kind=CALL, idempotency_key="s", actor="a")
    replay = await holds.settle(pool, hold.id, amount=Money(30, USD), kind=CALL, idempotency_key="s", actor="a")
    assert replay.entry == done.entry and replay.hold.status == "settled"
    assert (await wallet(pool, business)).balance == 950
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == 3


async def test_concurrent_settles_of_one_call_charge_once(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """Two processes (here: tasks) settling the same call with the same key: one entry."""
    business = await funded(pool, make_business, 1000)
    hold = await holds.place_hold(pool, business_id=business, amount=Money(400, USD), expires_at=soon(),
                                  idempotency_key="call:CA3:hold", reference="call:CA3")
    results = await asyncio.gather(*(holds.settle(pool, hold.id, amount=Money(123, USD), kind=CALL,
                                                  idempotency_key="call:CA3:settle", actor="x") for _ in range(8)))
    assert len({r.entry.id for r in results if r.entry}) == 1
    assert (await wallet(pool, business)).balance == 877


async def test_key_reused_with_other_amount_is_a_conflict(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """Property 4 for holds: nothing changes when a key is reused for something else."""
    business = await funded(pool, make_business, 1000)
    hold = await holds.place_hold(pool, business_id=business, amount=Money(100, USD), expires_at=soon(),
                                  idempotency_key="h", reference="r")
    with pytest.raises(IdempotencyConflict):
        await holds.place_hold(pool, business_id=business, amount=Money(101, USD), expires_at=soon(),
                               idempotency_key="h", reference="r")
    await holds.capture(pool, hold.id, amount=Money(10, USD), kind=CALL, idempotency_key="c", actor="a")
    with pytest.raises(IdempotencyConflict):
        await holds.capture(pool, hold.id, amount=Money(11, USD), kind=CALL, idempotency_key="c", actor="a")
    with pytest.raises(IdempotencyConflict):
        await holds.extend_hold(pool, hold.id, amount=Money(5, USD), expires_at=soon(), idempotency_key="c")
    assert (await wallet(pool, business)).held == 90


async def test_holds_and_debits_never_overdraw(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    business = await funded(pool, make_business, 100)
    hold = await holds.place_hold(pool, business_id=business, amount=Money(80, USD), expires_at=soon(),
                                  idempotency_key="h1", reference="r")
    with pytest.raises(InsufficientFunds):
        await holds.place_hold(pool, business_id=business, amount=Money(21, USD), expires_at=soon(),
                               idempotency_key="h2", reference="r")
    with pytest.raises(InsufficientFunds):
        await holds.extend_hold(pool, hold.id, amount=Money(21, USD), expires_at=soon(), idempotency_key="e")
    with pytest.raises(InsufficientFunds):
        await ledger.debit(pool, business_id=business, amount=Money(21, USD), kind=EntryKind.SMS_USAGE,
                           idempotency_key="sms:1", reference="sms:1", actor="a")
    # A charge beyond the hold draws the excess from available, and only if it is there.
    with pytest.raises(InsufficientFunds):
        await holds.settle(pool, hold.id, amount=Money(101, USD), kind=CALL, idempotency_key="s1", actor="a")
    await holds.settle(pool, hold.id, amount=Money(100, USD), kind=CALL, idempotency_key="s2", actor="a")
    after = await wallet(pool, business)
    assert (after.balance, after.held) == (0, 0)


async def test_closed_holds_refuse_more_work(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    business = await funded(pool, make_business, 500)
    hold = await holds.place_hold(pool, business_id=business, amount=Money(100, USD), expires_at=soon(),
                                  idempotency_key="h", reference="number:+15005550006")
    released = await holds.release_hold(pool, hold.id)
    assert released.status == "released" and (await wallet(pool, business)).available == 500
    assert (await holds.release_hold(pool, hold.id)).status == "released"
    with pytest.raises(HoldNotActive):
        await holds.extend_hold(pool, hold.id, amount=Money(1, USD), expires_at=soon(), idempotency_key="e")
    with pytest.raises(HoldNotActive):
        await holds.settle(pool, hold.id, amount=Money(1, USD), kind=EntryKind.NUMBER_PURCHASE,
                           idempotency_key="s", actor="a")
    settled = await holds.place_hold(pool, business_id=business, amount=Money(100, USD), expires_at=soon(),
                                     idempotency_key="h2", reference="r")
    await holds.settle(pool, settled.id, amount=Money(0, USD), kind=CALL, idempotency_key="s0", actor="a")
    with pytest.raises(HoldNotActive):
        await holds.release_hold(pool, settled.id)


async def test_hold_currency_and_ownership(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    business = await funded(pool, make_business, 500)
    other = await make_business()
    hold = await holds.place_hold(pool, business_id=business, amount=Money(100, USD), expires_at=soon(),
                                  idempotency_key="h", reference="r")
    with pytest.raises(CurrencyMismatch):
        await holds.capture(pool, hold.id, amount=Money(10, INR), kind=CALL, idempotency_key="c", actor="a")
    with pytest.raises(HoldNotFound):
        await holds.get_hold(pool, hold.id, business_id=other.business_id)
    with pytest.raises(HoldNotFound):
        await holds.release_hold(pool, 999_999)
    assert (await holds.get_hold(pool, hold.id, business_id=business)).amount == 100


async def test_expired_holds_keep_reserving_until_closed(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """An expired hold is the sweeper's work item; it still counts against available until settled."""
    business = await funded(pool, make_business, 500)
    old = await holds.place_hold(pool, business_id=business, amount=Money(100, USD), expires_at=soon(-5),
                                 idempotency_key="old", reference="call:CA9")
    await holds.place_hold(pool, business_id=business, amount=Money(100, USD), expires_at=soon(600),
                           idempotency_key="new", reference="call:CA10")
    now = datetime.datetime.now(datetime.UTC)
    assert [h.id for h in await holds.expired_holds(pool, now=now)] == [old.id]
    assert (await wallet(pool, business)).available == 300
    await holds.settle(pool, old.id, amount=Money(40, USD), kind=CALL, idempotency_key="call:CA9:settle",
                       actor="sweeper")
    assert await holds.expired_holds(pool, now=now) == []
    assert [h.reference for h in await holds.active_holds(pool, business)] == ["call:CA10"]
