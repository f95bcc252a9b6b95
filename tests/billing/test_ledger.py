"""The ledger: one entry per idempotency key, typed refusals, append-only storage, exact balances."""

from __future__ import annotations

import asyncio
import datetime
import re
import uuid
from pathlib import Path

import asyncpg
import pytest

from billing import holds, ledger, refunds, topups
from billing.errors import CurrencyMismatch, IdempotencyConflict, InsufficientFunds, InvalidEntry
from billing.ledger import EntryKind
from billing.money import MAX_AMOUNT, Currency, Money
from tests.conftest import MakeBusiness

USD, INR = Currency.USD, Currency.INR
ROOT = Path(__file__).resolve().parents[2]


async def topup(pool: asyncpg.Pool, business_id: uuid.UUID, amount: int, key: str, currency: Currency = USD
                ) -> ledger.Entry:
    return await ledger.credit(pool, business_id=business_id, amount=Money(amount, currency), kind=EntryKind.TOPUP,
                               idempotency_key=key, reference=key, actor="test")


async def test_wallet_is_created_on_first_use_per_currency(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    assert await ledger.get_wallet(pool, tenant.business_id, USD) is None
    await topup(pool, tenant.business_id, 100, "a")
    await topup(pool, tenant.business_id, 7000, "b", INR)
    wallets = await ledger.wallets_of(pool, tenant.business_id)
    assert [(w.currency, w.balance) for w in wallets] == [(INR, 7000), (USD, 100)]


async def test_same_key_same_payload_returns_the_first_entry(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """Property 3, sequential: a retry is answered with the first result and writes nothing."""
    tenant = await make_business()
    first = await topup(pool, tenant.business_id, 500, "stripe:checkout_session:cs_1")
    again = await topup(pool, tenant.business_id, 500, "stripe:checkout_session:cs_1")
    assert again == first
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == 1


async def test_same_key_concurrently_makes_one_entry(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """Property 3, concurrent: ten simultaneous posts of one key, one entry, one balance change."""
    tenant = await make_business()
    entries = await asyncio.gather(*(topup(pool, tenant.business_id, 700, "sms:SM1") for _ in range(10)))
    assert len({e.id for e in entries}) == 1
    wallet = await ledger.get_wallet(pool, tenant.business_id, USD)
    assert wallet is not None and wallet.balance == 700


@pytest.mark.parametrize("change", ["amount", "currency", "kind", "reference", "business"])
async def test_same_key_other_payload_is_a_conflict_and_writes_nothing(
        pool: asyncpg.Pool, make_business: MakeBusiness, change: str) -> None:
    """Property 4: reusing a key for a different effect raises IdempotencyConflict and adds no entry."""
    tenant, other = await make_business(), await make_business()
    await topup(pool, tenant.business_id, 500, "k")
    args = {"business_id": tenant.business_id, "amount": Money(500, USD), "kind": EntryKind.TOPUP,
            "reference": "k"}
    args.update({"amount": Money(501, USD)} if change == "amount" else
                {"amount": Money(500, INR)} if change == "currency" else
                {"kind": EntryKind.ADJUSTMENT} if change == "kind" else
                {"reference": "other"} if change == "reference" else {"business_id": other.business_id})
    with pytest.raises(IdempotencyConflict):
        await ledger.credit(pool, idempotency_key="k", actor="test", **args)  # type: ignore[arg-type]
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == 1


async def test_debit_beyond_available_is_refused(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    await topup(pool, tenant.business_id, 300, "t")
    with pytest.raises(InsufficientFunds) as refused:
        await ledger.debit(pool, business_id=tenant.business_id, amount=Money(301, USD), kind=EntryKind.SMS_USAGE,
                           idempotency_key="sms:1", reference="sms:1", actor="test")
    assert (refused.value.available, refused.value.requested) == (300, 301)
    entry = await ledger.debit(pool, business_id=tenant.business_id, amount=Money(300, USD),
                               kind=EntryKind.SMS_USAGE, idempotency_key="sms:2", reference="sms:2", actor="test")
    assert entry.balance_after == 0
    assert await pool.fetchval("SELECT count(*) FROM ledger_entries") == 2


async def test_debit_in_another_currency_never_touches_this_wallet(pool: asyncpg.Pool,
                                                                   make_business: MakeBusiness) -> None:
    """Property 6: INR money can't pay a USD charge; the INR wallet has nothing, so it's refused."""
    tenant = await make_business()
    await topup(pool, tenant.business_id, 1000, "t")
    with pytest.raises(InsufficientFunds):
        await ledger.debit(pool, business_id=tenant.business_id, amount=Money(10, INR), kind=EntryKind.CHAT_USAGE,
                           idempotency_key="chat:1", reference="chat:1", actor="test")
    with pytest.raises(CurrencyMismatch):
        ledger.check_currency(USD, Money(10, INR))


@pytest.mark.parametrize(("kind", "amount"), [(EntryKind.TOPUP, -5), (EntryKind.CALL_USAGE, 5),
                                              (EntryKind.REFUND, 5), (EntryKind.ADJUSTMENT, 0)])
async def test_sign_must_fit_the_kind(pool: asyncpg.Pool, make_business: MakeBusiness, kind: EntryKind,
                                      amount: int) -> None:
    tenant = await make_business()
    with pytest.raises(InvalidEntry):
        await ledger.post_entry(pool, business_id=tenant.business_id, amount=Money(amount, USD), kind=kind,
                                idempotency_key="x", reference="x", actor="test")


async def test_entries_cannot_be_updated_deleted_or_truncated(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """Property 5: the database itself refuses to rewrite history, whatever the application does."""
    tenant = await make_business()
    await topup(pool, tenant.business_id, 100, "t")
    await holds.place_hold(pool, business_id=tenant.business_id, amount=Money(10, USD), idempotency_key="h",
                           reference="call:CA1", expires_at=datetime.datetime.now(datetime.UTC))
    async with pool.acquire() as conn:
        await topups.record_event(conn, event_id="evt_1", type_="ping", created=1, livemode=False, outcome="ignored")
    for statement in ("UPDATE ledger_entries SET amount = 1000000", "DELETE FROM ledger_entries",
                      "TRUNCATE ledger_entries CASCADE", "UPDATE hold_events SET delta = 0",
                      "DELETE FROM stripe_events"):
        with pytest.raises(asyncpg.RestrictViolationError, match="append-only"):
            await pool.execute(statement)
    assert await pool.fetchval("SELECT sum(amount) FROM ledger_entries") == 100


def test_only_the_ledger_module_writes_entries() -> None:
    """Property 5, by reading the code: INSERT INTO ledger_entries appears only in billing/ledger.py."""
    sources = [p for package in ("agent_server", "billing", "media", "phone_numbers", "bench")
               for p in (ROOT / package).rglob("*.py")]
    writers = [path.relative_to(ROOT).as_posix() for path in sources
               if re.search(r"(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+ledger_entries", path.read_text(), re.I)]
    assert writers == ["billing/ledger.py"]


async def test_amounts_at_bounds_are_stored_exactly(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """Property 6: 1 and the JSON-safe maximum survive the database unchanged."""
    tenant = await make_business()
    await topup(pool, tenant.business_id, 1, "one")
    await topup(pool, tenant.business_id, MAX_AMOUNT - 1, "max")
    wallet = await ledger.get_wallet(pool, tenant.business_id, USD)
    assert wallet is not None and wallet.balance == MAX_AMOUNT


async def test_balance_after_is_the_running_sum(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    await topup(pool, tenant.business_id, 1000, "t")
    await ledger.debit(pool, business_id=tenant.business_id, amount=Money(250, USD), kind=EntryKind.NUMBER_RENT,
                       idempotency_key="number_rent:PN1:2026-11", reference="PN1", actor="rent")
    entries = await ledger.list_entries(pool, tenant.business_id, limit=10)
    assert [(e.amount, e.balance_after) for e in entries] == [(-250, 750), (1000, 1000)]


async def test_refund_may_overdraw_but_blocks_further_use(pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    """Money Stripe already returned is booked even if spent; the wallet then refuses new debits."""
    tenant = await make_business()
    await topup(pool, tenant.business_id, 1000, "t")
    await ledger.debit(pool, business_id=tenant.business_id, amount=Money(900, USD), kind=EntryKind.CALL_USAGE,
                       idempotency_key="call:CA1:settle", reference="call:CA1", actor="test")
    refund = await refunds.refund_up_to(pool, business_id=tenant.business_id, refunded=Money(1000, USD),
                                       charge_reference="stripe:charge:ch_1", idempotency_key="stripe:refund:ch_1:1000",
                                       actor="stripe")
    assert refund is not None and refund.balance_after == -900
    with pytest.raises(InsufficientFunds):
        await ledger.debit(pool, business_id=tenant.business_id, amount=Money(1, USD), kind=EntryKind.SMS_USAGE,
                           idempotency_key="sms:x", reference="sms:x", actor="test")


def test_cursor_round_trips_and_rejects_forgeries() -> None:
    assert ledger.decode_cursor(ledger.encode_cursor(12345)) == 12345
    for bad in ("", "abc", "ZTE6LTE", "!!!!", ledger.encode_cursor(1)[:-1] + "?"):
        with pytest.raises(ValueError):
            ledger.decode_cursor(bad)
