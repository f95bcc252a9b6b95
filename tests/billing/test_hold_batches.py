"""capture_many: several captures under one wallet lock write exactly what captures one by one write, or nothing."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import asyncpg
import pytest

from billing import holds, ledger
from billing.errors import HoldNotActive, IdempotencyConflict, InsufficientFunds
from billing.ledger import EntryKind
from billing.money import Currency, Money
from billing.usage_details import Unit, UsageDetail
from tests.conftest import MakeBusiness

USD = Currency.USD
SMS = EntryKind.SMS_USAGE
# 4 + 0 + 5 + 3 against a hold of 10: a charge of nothing, and the last goes 2 beyond the hold.
CHARGES = [(4, "sms:SMa"), (0, "sms:SMb"), (5, "sms:SMc"), (3, "sms:SMd")]


async def held(pool: asyncpg.Pool, make_business: MakeBusiness, funds: int = 100) -> tuple[uuid.UUID, holds.Hold]:
    tenant = await make_business()
    await ledger.credit(pool, business_id=tenant.business_id, amount=Money(funds, USD), kind=EntryKind.TOPUP,
                        idempotency_key=f"seed:{tenant.business_id}", reference="seed", actor="test")
    hold = await holds.place_hold(pool, business_id=tenant.business_id, amount=Money(10, USD),
                                  expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1),
                                  idempotency_key=f"hold:{tenant.business_id}", reference="campaign:x")
    return tenant.business_id, hold


def batch(charges: list[tuple[int, str]], of: uuid.UUID) -> list[tuple[Money, str, UsageDetail | None]]:
    """The charges with keys of the business `of` (keys are unique across all wallets)."""
    return [(Money(amount, USD), f"{key}:{of}", UsageDetail(amount, Unit.SEGMENTS)) for amount, key in charges]


async def written(pool: asyncpg.Pool, business_id: uuid.UUID, hold_id: int) -> dict[str, Any]:
    """What the captures left, without ids, times and the business in the keys: wallet, hold, entries, events."""
    wallet = await ledger.get_wallet(pool, business_id, USD)
    hold = await holds.get_hold(pool, hold_id)
    assert wallet is not None
    entries = await pool.fetch(
        "SELECT e.amount, e.kind, e.idempotency_key, e.balance_after, e.hold_id IS NOT NULL AS on_hold, d.quantity,"
        " p.account, p.amount AS counter FROM ledger_entries e JOIN platform_entries p ON p.entry_id = e.id"
        " LEFT JOIN usage_details d ON d.entry_id = e.id WHERE e.wallet_id = $1 AND e.kind = 'sms_usage'"
        " ORDER BY e.id", wallet.id)
    events = await pool.fetch("SELECT kind, delta, charged, idempotency_key FROM hold_events WHERE hold_id = $1"
                              " AND kind = 'capture' ORDER BY id", hold_id)
    def unkeyed(row: asyncpg.Record) -> tuple[Any, ...]:
        return tuple(v.rsplit(":", 1)[0] if k == "idempotency_key" else v for k, v in row.items())

    return {"wallet": (wallet.balance, wallet.held), "hold": (hold.amount, hold.status),
            "entries": [unkeyed(r) for r in entries], "events": [unkeyed(r) for r in events]}


async def test_a_batch_writes_exactly_what_captures_one_by_one_write(pool: asyncpg.Pool,
                                                                     make_business: MakeBusiness) -> None:
    one_by_one, first = await held(pool, make_business)
    for amount, key, detail in batch(CHARGES, one_by_one):
        await holds.capture(pool, first.id, amount=amount, kind=SMS, idempotency_key=key, actor="sms-dispatcher",
                            detail=detail)
    together, second = await held(pool, make_business)
    after = await holds.capture_many(pool, second.id, batch(CHARGES, together), kind=SMS, actor="sms-dispatcher")
    expected = await written(pool, one_by_one, first.id)
    assert await written(pool, together, second.id) == expected
    assert [e[2] for e in expected["entries"]] == ["sms:SMa", "sms:SMc", "sms:SMd"], "nothing charged, no entry"
    assert (after.amount, after.status) == expected["hold"] == (0, "active")
    assert expected["wallet"] == (88, 0)
    assert [e[3] for e in expected["entries"]] == [96, 91, 88], "each balance_after runs on, as posted one by one"


async def test_a_batch_a_hold_cannot_take_writes_nothing(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    business_id, hold = await held(pool, make_business, funds=12)
    await holds.capture(pool, hold.id, amount=Money(1, USD), kind=SMS, idempotency_key=f"sms:SMa:{business_id}",
                        actor="x")
    before = await written(pool, business_id, hold.id)
    with pytest.raises(IdempotencyConflict, match=f"sms:SMa:{business_id}"):
        await holds.capture_many(pool, hold.id, batch([(1, "sms:SMz"), (1, "sms:SMa")], business_id), kind=SMS,
                                 actor="x")
    with pytest.raises(InsufficientFunds):
        await holds.capture_many(pool, hold.id, batch([(9, "sms:SMy"), (3, "sms:SMx")], business_id), kind=SMS,
                                 actor="x")
    assert await written(pool, business_id, hold.id) == before
    await holds.release_hold(pool, hold.id)
    with pytest.raises(HoldNotActive):
        await holds.capture_many(pool, hold.id, batch([(1, "sms:SMw")], business_id), kind=SMS, actor="x")
