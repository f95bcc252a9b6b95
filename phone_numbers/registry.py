"""The business_numbers table: which business and agent answer a phone number."""

from __future__ import annotations

import dataclasses
import re
import uuid

import asyncpg

Executor = asyncpg.Pool | asyncpg.Connection

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
