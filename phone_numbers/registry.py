"""The business_numbers table: which business and agent answer a phone number."""

from __future__ import annotations

import dataclasses
import datetime
import re
import uuid

import asyncpg

from storage.executor import Connection, Executor

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclasses.dataclass(frozen=True)
class InboundRoute:
    """Who answers a call or message to a number."""

    number_id: uuid.UUID
    business_id: uuid.UUID
    agent_id: uuid.UUID | None
    phone_number: str
    status: str


async def add_number(db: Executor, business_id: uuid.UUID, phone_number: str, *,
                     agent_id: uuid.UUID | None = None, display_name: str = "",
                     is_primary: bool = False) -> uuid.UUID:
    """Register a number that already routes to this server (no purchase)."""
    if not E164.match(phone_number):
        raise ValueError(f"not an E.164 phone number: {phone_number!r}")
    number_id: uuid.UUID = await db.fetchval(
        "INSERT INTO business_numbers (business_id, agent_id, phone_number, display_name, is_primary)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id",
        business_id, agent_id, phone_number, display_name, is_primary)
    return number_id


async def route_for(db: Executor, phone_number: str) -> InboundRoute | None:
    """The live (not released) number record for an inbound call or message."""
    row = await db.fetchrow(
        "SELECT n.id, n.business_id, n.status, n.phone_number,"
        " coalesce(n.agent_id, (SELECT a.id FROM agents a WHERE a.business_id = n.business_id AND a.active"
        "                       ORDER BY a.created_at, a.id LIMIT 1)) AS agent_id"
        " FROM business_numbers n WHERE n.phone_number = $1 AND n.status <> 'released'",
        phone_number)
    if row is None:
        return None
    return InboundRoute(row["id"], row["business_id"], row["agent_id"], row["phone_number"], row["status"])


@dataclasses.dataclass(frozen=True)
class Number:
    """A business's number as stored (money in minor units of `currency`)."""

    id: uuid.UUID
    business_id: uuid.UUID
    agent_id: uuid.UUID | None
    phone_number: str
    display_name: str
    country_code: str
    number_type: str
    twilio_sid: str | None
    capabilities: dict[str, bool]
    monthly_cost: int
    currency: str
    is_primary: bool
    status: str
    created_at: datetime.datetime
    released_at: datetime.datetime | None
    rent_anchor: datetime.datetime | None
    rent_periods_paid: int
    rent_paid_through: datetime.datetime | None
    suspended_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class NewNumber:
    """What `insert_number` records for a number bought or imported through Twilio."""

    business_id: uuid.UUID
    phone_number: str
    display_name: str
    country_code: str
    number_type: str
    twilio_sid: str
    capabilities: dict[str, bool]
    voice_url: str
    sms_url: str
    status_callback_url: str
    monthly_cost: int
    currency: str
    rent_anchor: datetime.datetime
    rent_periods_paid: int
    rent_paid_through: datetime.datetime


_COLUMNS = ("id, business_id, agent_id, phone_number, display_name, country_code, number_type, twilio_sid,"
            " capabilities, monthly_cost, currency, is_primary, status, created_at, released_at, rent_anchor,"
            " rent_periods_paid, rent_paid_through, suspended_at")


def _number(row: asyncpg.Record | None) -> Number:
    assert row is not None, "the statement returns the number row"
    caps = row["capabilities"]
    return Number(row["id"], row["business_id"], row["agent_id"], row["phone_number"], row["display_name"],
                  row["country_code"], row["number_type"], row["twilio_sid"],
                  {k: bool(v) for k, v in (caps or {}).items()}, row["monthly_cost"], row["currency"],
                  row["is_primary"], row["status"], row["created_at"], row["released_at"], row["rent_anchor"],
                  row["rent_periods_paid"], row["rent_paid_through"], row["suspended_at"])


async def get_number(db: Executor, number_id: uuid.UUID) -> Number | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM business_numbers WHERE id = $1", number_id)
    return None if row is None else _number(row)


async def lock_number(conn: Connection, number_id: uuid.UUID) -> Number | None:
    """The number, locked for this transaction (rent and edits of one number run one at a time)."""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM business_numbers WHERE id = $1 FOR UPDATE", number_id)
    return None if row is None else _number(row)


async def live_number(db: Executor, phone_number: str) -> Number | None:
    """The record that holds this number now (not released), if any."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM business_numbers WHERE phone_number = $1"
                            " AND status <> 'released'", phone_number)
    return None if row is None else _number(row)


async def numbers_of(db: Executor, business_id: uuid.UUID) -> list[Number]:
    """A business's live numbers, primary first, then oldest first."""
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM business_numbers WHERE business_id = $1"
                          " AND status <> 'released' ORDER BY is_primary DESC, created_at, id", business_id)
    return [_number(r) for r in rows]


async def insert_number(conn: Connection, new: NewNumber) -> Number:
    """Record a bought or imported number; it becomes primary when the business has no primary number.

    The business's live numbers are locked first, so two numbers recorded at once can't both
    see "no primary" and collide on the one-primary index.
    """
    await conn.execute("SELECT id FROM business_numbers WHERE business_id = $1 AND status <> 'released'"
                       " ORDER BY id FOR UPDATE", new.business_id)
    row = await conn.fetchrow(
        "INSERT INTO business_numbers (business_id, phone_number, display_name, country_code, number_type,"
        " twilio_sid, capabilities, voice_url, sms_url, status_callback_url, monthly_cost, currency, is_primary,"
        " rent_anchor, rent_periods_paid, rent_paid_through)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
        "  NOT EXISTS (SELECT 1 FROM business_numbers WHERE business_id = $1 AND is_primary AND status <> 'released'),"
        "  $13, $14, $15)"
        f" RETURNING {_COLUMNS}",
        new.business_id, new.phone_number, new.display_name, new.country_code, new.number_type, new.twilio_sid,
        new.capabilities, new.voice_url, new.sms_url, new.status_callback_url, new.monthly_cost, new.currency,
        new.rent_anchor, new.rent_periods_paid, new.rent_paid_through)
    return _number(row)


async def update_number(conn: Connection, number: Number, *, display_name: str | None = None,
                        set_agent: bool = False, agent_id: uuid.UUID | None = None,
                        is_primary: bool | None = None) -> Number:
    """Change a live number's name, answering agent (with `set_agent`; None clears it) or primary flag.

    Runs in the caller's transaction. Making a number primary takes the flag from the business's other numbers in the same commit.
    """
    if is_primary:
        await conn.execute("SELECT id FROM business_numbers WHERE business_id = $1 AND status <> 'released'"
                           " ORDER BY id FOR UPDATE", number.business_id)
        await conn.execute("UPDATE business_numbers SET is_primary = false WHERE business_id = $1 AND is_primary"
                           " AND id <> $2", number.business_id, number.id)
    row = await conn.fetchrow(
        "UPDATE business_numbers SET display_name = coalesce($2, display_name),"
        " agent_id = CASE WHEN $3 THEN $4 ELSE agent_id END, is_primary = coalesce($5, is_primary)"
        f" WHERE id = $1 RETURNING {_COLUMNS}",
        number.id, display_name, set_agent, agent_id, is_primary)
    return _number(row)


async def mark_released(db: Executor, number_id: uuid.UUID, now: datetime.datetime) -> Number:
    """Record that the number left the account; a released number is never primary or suspended."""
    row = await db.fetchrow(
        "UPDATE business_numbers SET status = 'released', released_at = coalesce(released_at, $2),"
        f" is_primary = false, suspended_at = NULL WHERE id = $1 RETURNING {_COLUMNS}", number_id, now)
    return _number(row)


async def rent_due(db: Executor, now: datetime.datetime, *, limit: int = 500) -> list[uuid.UUID]:
    """Live numbers whose paid months have run out by `now`, longest overdue first."""
    rows = await db.fetch("SELECT id FROM business_numbers WHERE status <> 'released' AND monthly_cost > 0"
                          " AND rent_paid_through <= $1 ORDER BY rent_paid_through, id LIMIT $2", now, limit)
    return [r["id"] for r in rows]


async def record_rent_paid(conn: Connection, number_id: uuid.UUID, *, periods_paid: int,
                           paid_through: datetime.datetime) -> Number:
    """Advance the paid periods; a suspended number is resumed, since its rent is now paid."""
    row = await conn.fetchrow(
        "UPDATE business_numbers SET rent_periods_paid = $2, rent_paid_through = $3,"
        " status = CASE WHEN status = 'suspended' THEN 'active' ELSE status END, suspended_at = NULL"
        f" WHERE id = $1 RETURNING {_COLUMNS}", number_id, periods_paid, paid_through)
    return _number(row)


async def suspend(conn: Connection, number_id: uuid.UUID, now: datetime.datetime) -> Number:
    row = await conn.fetchrow(
        "UPDATE business_numbers SET status = 'suspended', suspended_at = $2"
        f" WHERE id = $1 AND status = 'active' RETURNING {_COLUMNS}", number_id, now)
    return _number(row)
