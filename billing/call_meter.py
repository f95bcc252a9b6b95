"""The meter of a call paid by the second: grant at start, checkpoints, settle, sweep.

How a call is charged (the prepaid-telecom model):
- At start, a hold reserves the price of a first grant of seconds (`wanted`, or as many as
  the wallet covers); below `minimum` seconds the call is refused and nothing is held.
- Every checkpoint charges the seconds used since the last one (the difference of the
  cumulative price, so rounding never accumulates) and tries to extend the grant; what the
  wallet can't cover is simply not granted, and the call must end by its granted time.
- At the end, one settle charges the rest, capped at the granted seconds, and releases
  what the hold still reserves, in one transaction.
- A process that dies mid-call leaves an open meter and a hold that expires; the sweeper
  settles it from Twilio's CallDuration when the status callback brought it, else from the
  last checkpoint. Every step has an idempotency key (`call:{sid}:checkpoint:{n}`,
  `call:{sid}:settle`), and the meter row is locked while a step runs, so a call is never
  billed twice, whoever settles it and however often.

Each charge records its seconds and what they cost the platform (`billing.provider_costs`,
at `cost_per_minute` micros: the shell passes the rate of its `[provider_costs]` table).
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

import asyncpg

from billing import holds, ledger
from billing.cost_config import DEFAULT, ProviderCostsConfig
from billing.ledger import EntryKind
from billing.money import Currency, Money
from billing.pricing import Prices, affordable_seconds, checkpoint_charge, grant_seconds, voice_charge
from billing.provider_costs import call_cost, call_per_minute
from billing.usage_details import Unit, UsageDetail
from storage.executor import Connection, Executor
from storage.transactions import transaction

ACTOR = "metering"
# Micros a minute of call costs at the default price table (tests and tools that pass none).
DEFAULT_COST_PER_MINUTE = call_per_minute(ProviderCostsConfig(), DEFAULT)


@dataclasses.dataclass(frozen=True, slots=True)
class Meter:
    call_sid: str
    business_id: uuid.UUID
    hold_id: int | None
    currency: str
    per_minute: int
    granted_seconds: int
    charged_seconds: int
    checkpoints: int
    status: str
    settled_seconds: int | None
    settle_source: str | None

    @property
    def open(self) -> bool:
        return self.status == "open"


_COLUMNS = ("call_sid, business_id, hold_id, currency, per_minute, granted_seconds, charged_seconds,"
            " checkpoints, status, settled_seconds, settle_source")


def _meter(row: asyncpg.Record | None) -> Meter:
    assert row is not None, "the statement returns the meter row"
    return Meter(**{key: row[key] for key in _COLUMNS.replace(" ", "").split(",")})


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _expiry(remaining_seconds: int, lease_seconds: int) -> datetime.datetime:
    return _now() + datetime.timedelta(seconds=remaining_seconds + lease_seconds)


async def get_meter(db: Executor, call_sid: str) -> Meter | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM call_meters WHERE call_sid = $1", call_sid)
    return None if row is None else _meter(row)


async def _lock(conn: Connection, call_sid: str) -> Meter | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM call_meters WHERE call_sid = $1 FOR UPDATE", call_sid)
    return None if row is None else _meter(row)


async def _lock_existing(conn: Connection, call_sid: str) -> Meter:
    meter = await _lock(conn, call_sid)
    if meter is None:
        raise LookupError(f"no meter for call {call_sid}")
    return meter


def _billable(meter: Meter, used_seconds: int) -> int:
    """Seconds to have charged in all: never less than already charged, never past the grant."""
    return min(max(used_seconds, meter.charged_seconds), meter.granted_seconds)


async def open_meter(db: Executor, *, business_id: uuid.UUID, call_sid: str, prices: Prices, wanted: int,
                     minimum: int, lease_seconds: int) -> Meter | None:
    """Grant a call its first seconds and hold their price; None when the wallet can't cover `minimum`.

    A retried webhook for the same call returns the meter already opened.
    """
    async with transaction(db) as conn:
        existing = await _lock(conn, call_sid)
        if existing is not None:
            return existing
        wallet = await ledger.lock_wallet(conn, business_id, prices.currency)
        granted = grant_seconds(wallet.available + wallet.credit_limit, prices.voice_per_minute,
                                wanted=wanted, minimum=minimum)
        if granted == 0:
            return None
        hold_id = None
        amount = voice_charge(granted, prices.voice_per_minute)
        if amount > 0:
            hold = await holds.place_hold(
                conn, business_id=business_id, amount=Money(amount, prices.currency),
                expires_at=_expiry(granted, lease_seconds), idempotency_key=f"call:{call_sid}:hold",
                reference=f"call:{call_sid}")
            hold_id = hold.id
        row = await conn.fetchrow(
            f"INSERT INTO call_meters (call_sid, business_id, hold_id, currency, per_minute, granted_seconds)"
            f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_COLUMNS}",
            call_sid, business_id, hold_id, prices.currency.value, prices.voice_per_minute, granted)
        return _meter(row)


def _extra_seconds(meter: Meter, available: int, want_more: int) -> int:
    """How many more seconds the wallet's `available` money can add to the grant."""
    if meter.per_minute == 0:
        return want_more
    ceiling = affordable_seconds(available + voice_charge(meter.granted_seconds, meter.per_minute),
                                 meter.per_minute)
    return max(0, min(want_more, ceiling - meter.granted_seconds))


def _detail(charged: int, used: int, cost_per_minute: int) -> UsageDetail:
    """The seconds (charged, used] a charge pays for and their cost (nothing when used is not past charged)."""
    used = max(used, charged)
    return UsageDetail(used - charged, Unit.SECONDS, call_cost(charged, used, cost_per_minute))


async def checkpoint(db: Executor, call_sid: str, *, used_seconds: int, grant_ahead: int,
                     lease_seconds: int, cost_per_minute: int = DEFAULT_COST_PER_MINUTE) -> Meter:
    """Charge usage so far and extend the grant to `used_seconds + grant_ahead` where the wallet allows.

    Usage beyond the grant is never charged: the call should have ended there.
    """
    async with transaction(db) as conn:
        meter = await _lock_existing(conn, call_sid)
        if not meter.open:
            return meter
        used = _billable(meter, used_seconds)
        n = meter.checkpoints + 1
        charge = checkpoint_charge(meter.charged_seconds, used, meter.per_minute)
        if charge and meter.hold_id is not None:
            await holds.capture(conn, meter.hold_id, amount=Money(charge, prices_currency(meter)),
                                kind=EntryKind.CALL_USAGE, idempotency_key=f"call:{call_sid}:checkpoint:{n}",
                                actor=ACTOR, detail=_detail(meter.charged_seconds, used, cost_per_minute))
        granted = meter.granted_seconds
        wallet = await ledger.lock_wallet(conn, meter.business_id, prices_currency(meter))
        extra = _extra_seconds(meter, wallet.available + wallet.credit_limit,
                               max(0, used + grant_ahead - meter.granted_seconds))
        if meter.hold_id is not None:
            ext_amount = voice_charge(granted + extra, meter.per_minute) - voice_charge(granted, meter.per_minute)
            await holds.extend_hold(conn, meter.hold_id, amount=Money(ext_amount, prices_currency(meter)),
                                    expires_at=_expiry(granted + extra - used, lease_seconds),
                                    idempotency_key=f"call:{call_sid}:extend:{n}")
        row = await conn.fetchrow(
            f"UPDATE call_meters SET charged_seconds = $2, granted_seconds = $3, checkpoints = $4"
            f" WHERE call_sid = $1 RETURNING {_COLUMNS}", call_sid, used, granted + extra, n)
        return _meter(row)


def prices_currency(meter: Meter) -> Currency:
    return Currency(meter.currency)


async def settle(db: Executor, call_sid: str, *, used_seconds: int, source: str,
                 cost_per_minute: int = DEFAULT_COST_PER_MINUTE) -> Meter:
    """Charge the rest of the call (capped at the grant) and free the hold; idempotent."""
    async with transaction(db) as conn:
        meter = await _lock_existing(conn, call_sid)
        if not meter.open:
            return meter
        used = _billable(meter, used_seconds)
        if meter.hold_id is not None:
            await holds.settle(conn, meter.hold_id,
                               amount=Money(checkpoint_charge(meter.charged_seconds, used, meter.per_minute),
                                            prices_currency(meter)),
                               kind=EntryKind.CALL_USAGE, idempotency_key=f"call:{call_sid}:settle", actor=ACTOR,
                               detail=_detail(meter.charged_seconds, used, cost_per_minute))
        row = await conn.fetchrow(
            f"UPDATE call_meters SET status = 'settled', settled_seconds = $2, settle_source = $3,"
            f" settled_at = now() WHERE call_sid = $1 RETURNING {_COLUMNS}", call_sid, used, source)
        return _meter(row)


# Fixed advisory lock key: one sweeper at a time across every process on the database.
_SWEEPER_LOCK = 0x7377656570  # "sweep"


async def sweep(pool: asyncpg.Pool, *, now: datetime.datetime | None = None, limit: int = 100,
                cost_per_minute: int = DEFAULT_COST_PER_MINUTE) -> list[Meter]:
    """Settle open meters whose hold expired (their process died); returns those settled here.

    Uses Twilio's CallDuration (from the status callback, stored on the call) when known, else
    the last checkpoint. Runs only where it wins the advisory lock.
    """
    moment = now or _now()
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", _SWEEPER_LOCK):
            return []
        try:
            rows = await conn.fetch(
                "SELECT m.call_sid, c.twilio_duration_seconds FROM call_meters m"
                " LEFT JOIN holds h ON h.id = m.hold_id LEFT JOIN calls c ON c.call_sid = m.call_sid"
                " WHERE m.status = 'open' AND coalesce(h.expires_at, m.opened_at + interval '1 day') <= $1"
                " ORDER BY m.opened_at LIMIT $2", moment, limit)
            settled = []
            for row in rows:
                duration = row["twilio_duration_seconds"]
                meter = await get_meter(pool, row["call_sid"])
                assert meter is not None
                used, source = ((duration, "sweeper:call_duration") if duration is not None
                                else (meter.charged_seconds, "sweeper:checkpoint"))
                settled.append(await settle(pool, row["call_sid"], used_seconds=used, source=source,
                                            cost_per_minute=cost_per_minute))
            return settled
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", _SWEEPER_LOCK)
