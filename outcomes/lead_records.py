"""SQL of `leads` and `lead_contacts`: one lead per (conversation, channel), merged per business into one contact.

A contact is found again by the phone or the email the person gave (a caller-ID hint never
merges: a shared phone is not one person). Merging runs under a per-business advisory lock,
so two leads of one person stored at once can't create two contacts; a lead that joins two
existing contacts (the phone of one, the email of the other) folds the newer into the older.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any

import asyncpg

from outcomes.leads import LeadDecision
from storage.executor import Connection, Executor


@dataclasses.dataclass(frozen=True)
class LeadRow:
    id: uuid.UUID
    business_id: uuid.UUID
    conversation_id: uuid.UUID
    channel: str
    contact_id: uuid.UUID
    name: str
    phone: str | None
    email: str | None
    company: str | None
    intent: str | None
    confidence: int
    reason: str | None
    from_channel_id: bool
    custom_fields: dict[str, Any]
    created_at: datetime.datetime
    contact_conversations: list[uuid.UUID]


@dataclasses.dataclass(frozen=True)
class StoredLead:
    lead_id: uuid.UUID
    contact_id: uuid.UUID
    created: bool


async def _contact_for(conn: Connection, business_id: uuid.UUID, decision: LeadDecision, company: str | None,
                       now: datetime.datetime) -> uuid.UUID:
    given_phone = None if decision.from_channel_id else decision.phone
    rows = await conn.fetch(
        "SELECT id FROM lead_contacts WHERE business_id = $1 AND ((phone IS NOT NULL AND phone = $2)"
        " OR (email IS NOT NULL AND lower(email) = lower($3))) ORDER BY created_at, id",
        business_id, given_phone, decision.email)
    if not rows:
        contact_id: uuid.UUID = await conn.fetchval(
            "INSERT INTO lead_contacts (business_id, name, phone, email, company, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id",
            business_id, decision.name, given_phone, decision.email, company, now)
        return contact_id
    ids: list[uuid.UUID] = [r["id"] for r in rows]
    keep, *others = ids
    if others:
        await conn.execute("UPDATE leads SET contact_id = $1 WHERE contact_id = ANY($2::uuid[])", keep, others)
        folded = await conn.fetch("DELETE FROM lead_contacts WHERE id = ANY($1::uuid[]) RETURNING phone, email, company",
                                  others)
        for f in folded:
            await conn.execute(
                "UPDATE lead_contacts SET phone = coalesce(phone, $2), email = coalesce(email, $3),"
                " company = coalesce(company, $4) WHERE id = $1", keep, f["phone"], f["email"], f["company"])
    await conn.execute(
        "UPDATE lead_contacts SET name = $2, phone = coalesce(phone, $3), email = coalesce(email, $4),"
        " company = coalesce($5, company), updated_at = $6 WHERE id = $1",
        keep, decision.name, given_phone, decision.email, company, now)
    return keep


async def store_lead(conn: Connection, *, business_id: uuid.UUID, conversation_id: uuid.UUID, channel: str,
                     decision: LeadDecision, company: str | None, intent: str | None, confidence: int,
                     reason: str | None, custom_fields: dict[str, Any], now: datetime.datetime) -> StoredLead:
    """Store (or, analysed again, replace) the conversation's lead and merge it into its contact.

    `conn` must be inside a transaction: the advisory lock is held until it ends.
    """
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended('lead_contacts:' || $1::uuid::text, 0))", business_id)
    contact_id = await _contact_for(conn, business_id, decision, company, now)
    row = await conn.fetchrow(
        "INSERT INTO leads (business_id, conversation_id, channel, contact_id, name, phone, email, company, intent,"
        " confidence, reason, from_channel_id, custom_fields, created_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        " ON CONFLICT (conversation_id, channel) DO UPDATE SET contact_id = excluded.contact_id,"
        " name = excluded.name, phone = excluded.phone, email = excluded.email, company = excluded.company,"
        " intent = excluded.intent, confidence = excluded.confidence, reason = excluded.reason,"
        " from_channel_id = excluded.from_channel_id, custom_fields = excluded.custom_fields"
        " RETURNING id, (xmax = 0) AS created",
        business_id, conversation_id, channel, contact_id, decision.name, decision.phone, decision.email, company,
        intent, confidence, reason, decision.from_channel_id, custom_fields, now)
    assert row is not None  # an upsert always returns its row
    return StoredLead(row["id"], contact_id, bool(row["created"]))


_LEAD_COLUMNS = ("l.id, l.business_id, l.conversation_id, l.channel, l.contact_id, l.name, l.phone, l.email,"
                 " l.company, l.intent, l.confidence, l.reason, l.from_channel_id, l.custom_fields, l.created_at,"
                 " ARRAY(SELECT o.conversation_id FROM leads o WHERE o.contact_id = l.contact_id"
                 "       ORDER BY o.created_at, o.id) AS contact_conversations")


def _lead(row: asyncpg.Record) -> LeadRow:
    return LeadRow(**dict(row))


async def list_leads(db: Executor, business_id: uuid.UUID, *, start: datetime.datetime,
                     end: datetime.datetime, channel: str | None, after: tuple[datetime.datetime, uuid.UUID] | None,
                     limit: int) -> list[LeadRow]:
    """Leads newest first, from `after` (the last one of the previous page) on."""
    rows = await db.fetch(
        f"SELECT {_LEAD_COLUMNS} FROM leads l WHERE l.business_id = $1 AND l.created_at >= $2 AND l.created_at < $3"
        " AND ($4::text IS NULL OR l.channel = $4)"
        " AND ($5::timestamptz IS NULL OR (l.created_at, l.id) < ($5, $6::uuid))"
        " ORDER BY l.created_at DESC, l.id DESC LIMIT $7",
        business_id, start, end, channel, after[0] if after else None, after[1] if after else None, limit)
    return [_lead(r) for r in rows]


async def lead_of(db: Executor, conversation_id: uuid.UUID) -> LeadRow | None:
    row = await db.fetchrow(f"SELECT {_LEAD_COLUMNS} FROM leads l WHERE l.conversation_id = $1", conversation_id)
    return None if row is None else _lead(row)


async def contacts_of(db: Executor, business_id: uuid.UUID) -> list[dict[str, Any]]:
    rows = await db.fetch("SELECT id, name, phone, email, company FROM lead_contacts WHERE business_id = $1"
                          " ORDER BY created_at, id", business_id)
    return [dict(r) for r in rows]
