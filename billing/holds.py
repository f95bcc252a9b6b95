"""Holds: money reserved for metered use (calls, number purchases), and their SQL.

A hold lowers the wallet's `available` without touching its balance; it is then extended,
captured in part (a call's checkpoint), settled (the final charge, the rest released) or
released. Each operation carries an idempotency key recorded in ``hold_events``, so a retry
of any step returns the first result. Lock order is always wallet row, then hold row, the
same order `billing.ledger` uses, so concurrent operations can't deadlock.

Expiry: ``expires_at`` is the time by which the hold's owner must extend or close it. An
expired hold keeps reserving its money until someone settles or releases it, because the
use it covers may already have happened (a call on a crashed process); the sweeper of the
owning feature finds such holds with `expired_holds`.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from billing.errors import (
    CurrencyMismatch,
    HoldNotActive,
    HoldNotFound,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidEntry,
)
from billing.ledger import (
    Entry,
    EntryKind,
    NewEntry,
    Wallet,
    apply_change,
    check_currency,
    entry_by_key,
    entry_fingerprint,
    fingerprint,
    insert_entries,
    insert_entry,
    lock_wallet,
    lock_wallet_by_id,
)
from billing.money import Currency, Money
from billing.usage_details import UsageDetail
from storage.executor import Connection, Executor
from storage.transactions import transaction

# What a hold can be charged for: metered use, never money coming in or going back to Stripe.
USAGE_KINDS = frozenset({EntryKind.CALL_USAGE, EntryKind.SMS_USAGE, EntryKind.CHAT_USAGE, EntryKind.NUMBER_PURCHASE,
                         EntryKind.NUMBER_RENT})


@dataclass(frozen=True, slots=True)
class Hold:
    """A hold as stored: `amount` is what it still reserves (0 once closed)."""

    id: int
    wallet_id: int
    business_id: uuid.UUID
    currency: Currency
    amount: int
    status: str
    reference: str
    idempotency_key: str
    expires_at: datetime.datetime
    created_at: datetime.datetime
    updated_at: datetime.datetime

    @property
    def active(self) -> bool:
        """Still reserving money (not settled or released)."""
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class Charge:
    """The outcome of `capture` or `settle`: the hold after it and the debit entry, if any."""

    hold: Hold
    entry: Entry | None


@dataclass(frozen=True, slots=True)
class Split:
    """How a charge against a hold moves the wallet: pure arithmetic, no I/O."""

    d_balance: int
    d_held: int
    from_hold: int
    beyond_hold: int


def split_charge(reserved: int, charge: int, *, final: bool) -> Split:
    """Split a charge into the part the hold covers and the part beyond it.

    The covered part lowers balance and held alike, so `available` doesn't move; the part
    beyond the hold lowers `available` and so must pass the overdraft guard. A final
    charge (settle) also frees whatever the hold still reserves.
    """
    if charge < 0 or reserved < 0:
        raise ValueError("charge and reserve can't be negative")
    from_hold = min(reserved, charge)
    d_held = -reserved if final else -from_hold
    return Split(d_balance=-charge, d_held=d_held, from_hold=from_hold, beyond_hold=charge - from_hold)


_HOLD_COLUMNS = ("h.id, h.wallet_id, w.business_id, w.currency, h.amount, h.status, h.reference,"
                 " h.idempotency_key, h.expires_at, h.created_at, h.updated_at")


def _hold(row: asyncpg.Record) -> Hold:
    return Hold(row["id"], row["wallet_id"], row["business_id"], Currency(row["currency"]), row["amount"],
                row["status"], row["reference"], row["idempotency_key"], row["expires_at"], row["created_at"],
                row["updated_at"])


async def get_hold(db: Executor, hold_id: int, *, business_id: uuid.UUID | None = None) -> Hold:
    """Read a hold; with `business_id`, one of another business is reported as not found.

    Raises:
        HoldNotFound: no such hold (in that business).
    """
    row = await db.fetchrow(f"SELECT {_HOLD_COLUMNS} FROM holds h JOIN wallets w ON w.id = h.wallet_id"
                            " WHERE h.id = $1 AND ($2::uuid IS NULL OR w.business_id = $2)", hold_id, business_id)
    if row is None:
        raise HoldNotFound(hold_id)
    return _hold(row)


async def _lock_hold(conn: Connection, hold_id: int) -> tuple[Hold, Wallet]:
    """Lock the hold's wallet, then the hold (the global lock order); return both as locked."""
    wallet_id = await conn.fetchval("SELECT wallet_id FROM holds WHERE id = $1", hold_id)
    if wallet_id is None:
        raise HoldNotFound(hold_id)
    wallet = await lock_wallet_by_id(conn, wallet_id)
    row = await conn.fetchrow(f"SELECT {_HOLD_COLUMNS} FROM holds h JOIN wallets w ON w.id = h.wallet_id"
                              " WHERE h.id = $1 FOR UPDATE OF h", hold_id)
    assert row is not None
    return _hold(row), wallet


async def _event_by_key(conn: Executor, key: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "SELECT hold_id, fingerprint FROM hold_events WHERE idempotency_key = $1", key)
    return row


async def _insert_event(conn: Connection, hold_id: int, kind: str, delta: int, charged: int,
                        key: str, digest: str) -> None:
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO hold_events (hold_id, kind, delta, charged, idempotency_key, fingerprint)"
                " VALUES ($1, $2, $3, $4, $5, $6)", hold_id, kind, delta, charged, key, digest)
    except asyncpg.UniqueViolationError:
        # Same key on another hold, inserted meanwhile under another wallet's lock.
        raise IdempotencyConflict(key) from None


async def _update_hold(conn: Connection, hold_id: int, *, amount_delta: int, status: str,
                       expires_at: datetime.datetime | None = None) -> Hold:
    await conn.execute(
        "UPDATE holds SET amount = amount + $2, status = $3, expires_at = greatest(expires_at, coalesce($4, expires_at)),"
        " updated_at = now() WHERE id = $1", hold_id, amount_delta, status, expires_at)
    return await get_hold(conn, hold_id)


async def _replay(conn: Executor, key: str, digest: str) -> Hold | None:
    """The hold an earlier operation with this key produced, or None if the key is new."""
    row = await _event_by_key(conn, key)
    if row is None:
        return None
    if row["fingerprint"] != digest:
        raise IdempotencyConflict(key)
    return await get_hold(conn, row["hold_id"])


async def place_hold(db: Executor, *, business_id: uuid.UUID, amount: Money, expires_at: datetime.datetime,
                     idempotency_key: str, reference: str) -> Hold:
    """Reserve `amount` of the business's wallet until it is settled or released.

    Args:
        amount: positive; its currency picks the wallet (created on first use).
        expires_at: when the owner must have extended or closed the hold.
        idempotency_key: e.g. ``call:{CallSid}:hold``; a retry returns the same hold.
        reference: what the hold is for (``call:{CallSid}``, ``number:{phone}``).

    Raises:
        InsufficientFunds: the wallet's available amount doesn't cover `amount`.
        IdempotencyConflict: the key was used for another hold.
    """
    if amount.amount <= 0:
        raise InvalidEntry("a hold must be positive")
    digest = fingerprint("hold", business_id, amount.currency.value, amount.amount, reference)
    async with transaction(db) as conn:
        wallet = await lock_wallet(conn, business_id, amount.currency)
        replayed = await _replay(conn, idempotency_key, digest)
        if replayed is not None:
            return replayed
        await apply_change(conn, wallet, 0, amount.amount)
        try:
            async with conn.transaction():
                hold_id = await conn.fetchval(
                    "INSERT INTO holds (wallet_id, amount, reference, idempotency_key, fingerprint, expires_at)"
                    " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    wallet.id, amount.amount, reference, idempotency_key, digest, expires_at)
        except asyncpg.UniqueViolationError:
            raise IdempotencyConflict(idempotency_key) from None
        await _insert_event(conn, hold_id, "place", amount.amount, 0, idempotency_key, digest)
        return await get_hold(conn, hold_id)


async def extend_hold(db: Executor, hold_id: int, *, amount: Money, expires_at: datetime.datetime,
                      idempotency_key: str) -> Hold:
    """Reserve `amount` more on an active hold and push its expiry to `expires_at` (never earlier).

    `amount` may be zero to only move the expiry.

    Raises:
        HoldNotFound, HoldNotActive, CurrencyMismatch, InsufficientFunds, IdempotencyConflict.
    """
    if amount.amount < 0:
        raise InvalidEntry("an extension can't be negative")
    digest = fingerprint("extend", hold_id, amount.currency.value, amount.amount)
    async with transaction(db) as conn:
        hold, wallet = await _lock_hold(conn, hold_id)
        replayed = await _replay(conn, idempotency_key, digest)
        if replayed is not None:
            return replayed
        _require_active(hold)
        check_currency(hold.currency, amount)
        await apply_change(conn, wallet, 0, amount.amount)
        await _insert_event(conn, hold_id, "extend", amount.amount, 0, idempotency_key, digest)
        return await _update_hold(conn, hold_id, amount_delta=amount.amount, status="active", expires_at=expires_at)


async def capture(db: Executor, hold_id: int, *, amount: Money, kind: EntryKind, idempotency_key: str,
                  actor: str, expires_at: datetime.datetime | None = None,
                  detail: UsageDetail | None = None) -> Charge:
    """Debit usage so far against an active hold (a call checkpoint); the hold stays open.

    The part of `amount` the hold covers comes out of the reservation; any part beyond it
    must be covered by the wallet's available amount. Use keys like
    ``call:{CallSid}:checkpoint:{n}``. `detail` (what the charge paid for) is recorded with its entry.

    Raises:
        HoldNotFound, HoldNotActive, CurrencyMismatch, InsufficientFunds, IdempotencyConflict.
    """
    return await _charge(db, hold_id, amount=amount, kind=kind, key=idempotency_key, actor=actor,
                         final=False, expires_at=expires_at, detail=detail)


async def settle(db: Executor, hold_id: int, *, amount: Money, kind: EntryKind, idempotency_key: str,
                 actor: str, detail: UsageDetail | None = None) -> Charge:
    """Debit the final `amount` (may be zero) and release what the hold still reserves, in one commit.

    Use keys like ``call:{CallSid}:settle``; settling twice with the same key returns the
    first result, settling a closed hold with a new key raises `HoldNotActive`. `detail` (what
    the charge paid for) is recorded with its entry.

    Raises:
        HoldNotFound, HoldNotActive, CurrencyMismatch, InsufficientFunds, IdempotencyConflict.
    """
    return await _charge(db, hold_id, amount=amount, kind=kind, key=idempotency_key, actor=actor, final=True,
                         detail=detail)


async def _charge(db: Executor, hold_id: int, *, amount: Money, kind: EntryKind, key: str, actor: str,
                  final: bool, expires_at: datetime.datetime | None = None,
                  detail: UsageDetail | None = None) -> Charge:
    """Charge optimistically; look for a replay only when something refused.

    Four statements under the wallet's lock (held until the caller commits), not eight: a
    replay's entry (or, charging 0, its hold event) hits its key, the savepoint rolls back and
    the first result is returned, as a replay checked first would be; a refusal (closed hold,
    other currency, short wallet) is answered with the replay too when the key was used so.
    """
    if amount.amount < 0 or kind not in USAGE_KINDS:
        raise InvalidEntry("a hold is charged with a non-negative usage amount")
    op = "settle" if final else "capture"
    digest = fingerprint(op, hold_id, amount.currency.value, amount.amount, kind.value)
    try:
        async with transaction(db) as conn:
            hold, wallet = await _lock_hold(conn, hold_id)
            _require_active(hold)
            check_currency(hold.currency, amount)
            split = split_charge(hold.amount, amount.amount, final=final)
            wallet = await apply_change(conn, wallet, split.d_balance, split.d_held)
            entry = None
            if amount.amount:
                entry = await insert_entry(
                    conn, wallet, amount=-amount.amount, kind=kind, reference=hold.reference, actor=actor,
                    idempotency_key=key, hold_id=hold_id, detail=detail,
                    fingerprint=entry_fingerprint(hold.business_id, -amount, kind, hold.reference, hold_id))
            row = await conn.fetchrow(_EVENT_AND_HOLD, hold_id, op, split.d_held, amount.amount, key, digest,
                                      "settled" if final else "active", expires_at)
            assert row is not None
            return Charge(dataclasses.replace(hold, **dict(row)), entry)
    except (asyncpg.UniqueViolationError, HoldNotActive, CurrencyMismatch, InsufficientFunds) as refused:
        replayed = await _replay(db, key, digest)
        if replayed is not None:
            found = await entry_by_key(db, key)
            return Charge(replayed, None if found is None else found[0])
        if isinstance(refused, asyncpg.UniqueViolationError):
            raise IdempotencyConflict(key) from None  # the key names another effect (an entry of its own)
        raise


async def capture_many(db: Executor, hold_id: int, charges: Sequence[tuple[Money, str, UsageDetail | None]], *,
                       kind: EntryKind, actor: str) -> Hold:
    """`capture` of each (amount, key, detail) in order, under one lock of the wallet: the same entries and events.

    All or nothing, for new keys only: a refusal (closed hold, other currency, short wallet, a
    key already used: IdempotencyConflict) leaves nothing written; the caller then captures
    one by one (`capture` answers replays). For many small charges at once (SMS campaign
    texts), where a lock taken per charge would queue every charge of the business behind it.
    """
    if kind not in USAGE_KINDS or any(amount.amount < 0 for amount, _, _ in charges):
        raise InvalidEntry("a hold is charged with a non-negative usage amount")
    try:
        async with transaction(db) as conn:
            hold, wallet = await _lock_hold(conn, hold_id)
            _require_active(hold)
            reserved, entries, events = hold.amount, [], []
            for amount, key, detail in charges:
                check_currency(hold.currency, amount)
                split = split_charge(reserved, amount.amount, final=False)
                reserved += split.d_held
                events.append((hold_id, "capture", split.d_held, amount.amount, key,
                               fingerprint("capture", hold_id, amount.currency.value, amount.amount, kind.value)))
                if amount.amount:
                    entries.append(NewEntry(-amount.amount, kind, hold.reference, actor, key, entry_fingerprint(
                        hold.business_id, -amount, kind, hold.reference, hold_id), hold_id, detail))
            total = sum(amount.amount for amount, _, _ in charges)
            await apply_change(conn, wallet, -total, reserved - hold.amount)
            await insert_entries(conn, wallet, entries)
            await conn.executemany("INSERT INTO hold_events (hold_id, kind, delta, charged, idempotency_key,"
                                   " fingerprint) VALUES ($1, $2, $3, $4, $5, $6)", events)
            return await _update_hold(conn, hold_id, amount_delta=reserved - hold.amount, status="active")
    except asyncpg.UniqueViolationError as exc:  # detail: Key (idempotency_key)=(sms:SM...) already exists.
        raise IdempotencyConflict((exc.detail or "").partition(")=(")[2].rpartition(")")[0] or "?") from None


# A charge's hold event and the hold's new amount in one round trip (both inside the wallet's lock).
_EVENT_AND_HOLD = """
WITH ev AS (INSERT INTO hold_events (hold_id, kind, delta, charged, idempotency_key, fingerprint)
            VALUES ($1, $2, $3, $4, $5, $6))
UPDATE holds SET amount = amount + $3, status = $7, expires_at = greatest(expires_at, coalesce($8, expires_at)),
       updated_at = now() WHERE id = $1
RETURNING amount, status, expires_at, updated_at
"""


async def release_hold(db: Executor, hold_id: int, *, idempotency_key: str | None = None) -> Hold:
    """Free everything the hold reserves without charging; releasing a released hold is a no-op.

    Raises:
        HoldNotFound: no such hold.
        HoldNotActive: the hold was settled (its money was charged, nothing to release).
    """
    key = idempotency_key or f"hold:{hold_id}:release"
    digest = fingerprint("release", hold_id)
    async with transaction(db) as conn:
        hold, wallet = await _lock_hold(conn, hold_id)
        replayed = await _replay(conn, key, digest)
        if replayed is not None:
            return replayed
        if hold.status == "released":
            return hold
        _require_active(hold)
        await apply_change(conn, wallet, 0, -hold.amount)
        await _insert_event(conn, hold_id, "release", -hold.amount, 0, key, digest)
        return await _update_hold(conn, hold_id, amount_delta=-hold.amount, status="released")


def _require_active(hold: Hold) -> None:
    if not hold.active:
        raise HoldNotActive(hold.id, hold.status)


async def expired_holds(db: Executor, *, now: datetime.datetime, limit: int = 100) -> list[Hold]:
    """Active holds past their expiry, oldest first: work for the owning feature's sweeper."""
    rows = await db.fetch(f"SELECT {_HOLD_COLUMNS} FROM holds h JOIN wallets w ON w.id = h.wallet_id"
                          " WHERE h.status = 'active' AND h.expires_at <= $1 ORDER BY h.expires_at LIMIT $2",
                          now, limit)
    return [_hold(r) for r in rows]


async def active_holds(db: Executor, business_id: uuid.UUID) -> list[Hold]:
    """A business's open holds, newest first."""
    rows = await db.fetch(f"SELECT {_HOLD_COLUMNS} FROM holds h JOIN wallets w ON w.id = h.wallet_id"
                          " WHERE w.business_id = $1 AND h.status = 'active' ORDER BY h.id DESC", business_id)
    return [_hold(r) for r in rows]
