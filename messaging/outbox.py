"""The one outbox every outbound SMS goes through: rows, their status history, pages and stats.

A row is written `queued` by whoever wants a text sent (a single send, a campaign) and moved
on only by the dispatcher and Twilio's status callbacks. Statuses only move forward
(`queued < sending < sent < delivered | undelivered | failed`), so a duplicate or late
callback changes nothing; `canceled` marks a row the dispatcher refused to send (opted out,
undeliverable) and `failed` one Twilio refused.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from typing import Final

import asyncpg

from messaging import cursor
from messaging.errors import NotFound, NotRetryable
from storage.executor import Executor
from storage.transactions import transaction

RANK: Final = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3, "canceled": 3}
FINAL: Final = frozenset({"delivered", "undelivered", "failed", "canceled"})
# Twilio's statuses in our order (accepted/scheduled/queued are Twilio-side queueing: we are `sending`).
TWILIO_STATUS: Final = {"accepted": "sending", "scheduled": "sending", "queued": "sending", "sending": "sending",
                        "sent": "sent", "delivered": "delivered", "read": "delivered", "undelivered": "undelivered",
                        "failed": "failed", "canceled": "failed"}

_COLUMNS = ("id, business_id, contact_id, number_id, from_number, to_phone, body, category, segments, encoding,"
            " status, idempotency_key, campaign_id, not_before, attempts, verify, send_started_at, message_sid,"
            " error_code, error_message, price_minor, currency, created_at, updated_at")


@dataclasses.dataclass(frozen=True)
class Message:
    id: uuid.UUID
    business_id: uuid.UUID
    contact_id: uuid.UUID | None
    number_id: uuid.UUID | None
    from_number: str
    to_phone: str
    body: str
    category: str
    segments: int
    encoding: str
    status: str
    idempotency_key: str
    campaign_id: uuid.UUID | None
    not_before: datetime.datetime
    attempts: int
    verify: bool
    send_started_at: datetime.datetime | None
    message_sid: str | None
    error_code: int | None
    error_message: str | None
    price_minor: int | None
    currency: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime


def message_of(row: asyncpg.Record) -> Message:
    return Message(*(row[f.name] for f in dataclasses.fields(Message)))


@dataclasses.dataclass(frozen=True)
class NewMessage:
    business_id: uuid.UUID
    contact_id: uuid.UUID | None
    number_id: uuid.UUID
    from_number: str
    to_phone: str
    body: str
    category: str
    segments: int
    encoding: str
    idempotency_key: str
    not_before: datetime.datetime
    campaign_id: uuid.UUID | None = None


async def enqueue(db: Executor, new: NewMessage, *, now: datetime.datetime) -> tuple[Message, bool]:
    """Queue a message once per (business, idempotency key).

    Returns:
        The message and whether this call created it (False: the key's earlier message).
    """
    async with transaction(db) as conn:
        row = await conn.fetchrow(
            f"INSERT INTO sms_outbox (business_id, contact_id, number_id, from_number, to_phone, body, category,"
            f" segments, encoding, idempotency_key, not_before, campaign_id, created_at, updated_at)"
            f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)"
            f" ON CONFLICT (business_id, idempotency_key) DO NOTHING RETURNING {_COLUMNS}",
            new.business_id, new.contact_id, new.number_id, new.from_number, new.to_phone, new.body, new.category,
            new.segments, new.encoding, new.idempotency_key, new.not_before, new.campaign_id, now)
        if row is None:
            existing = await conn.fetchrow(f"SELECT {_COLUMNS} FROM sms_outbox WHERE business_id = $1"
                                           " AND idempotency_key = $2", new.business_id, new.idempotency_key)
            assert existing is not None
            return message_of(existing), False
        await add_event(conn, row["id"], "queued", None, "api", now)
        return message_of(row), True


async def add_event(db: Executor, message_id: uuid.UUID, status: str, error_code: int | None, source: str,
                    at: datetime.datetime) -> None:
    await db.execute("INSERT INTO sms_status_events (message_id, status, error_code, source, at)"
                     " VALUES ($1, $2, $3, $4, $5)", message_id, status, error_code, source, at)


async def add_events(db: Executor, events: Sequence[tuple[uuid.UUID, str, int | None, str, datetime.datetime]]) -> None:
    """Several status events in one round trip: (message id, status, error code, source, at) each."""
    if events:
        await db.executemany("INSERT INTO sms_status_events (message_id, status, error_code, source, at)"
                             " VALUES ($1, $2, $3, $4, $5)", events)


async def get(db: Executor, business_id: uuid.UUID, message_id: uuid.UUID) -> Message:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM sms_outbox WHERE id = $1 AND business_id = $2",
                            message_id, business_id)
    if row is None:
        raise NotFound("message not found")
    return message_of(row)


async def owner(db: Executor, message_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await db.fetchval("SELECT business_id FROM sms_outbox WHERE id = $1", message_id)
    return found


async def events(db: Executor, message_id: uuid.UUID) -> list[tuple[str, int | None, str, datetime.datetime]]:
    """The message's status history, oldest first: (status, error code, source, at)."""
    rows = await db.fetch("SELECT status, error_code, source, at FROM sms_status_events WHERE message_id = $1"
                          " ORDER BY id", message_id)
    return [(r["status"], r["error_code"], r["source"], r["at"]) for r in rows]


@dataclasses.dataclass(frozen=True)
class MessageFilters:
    status: str | None = None
    contact_id: uuid.UUID | None = None
    campaign_id: uuid.UUID | None = None
    to_phone: str | None = None


async def page(db: Executor, business_id: uuid.UUID, filters: MessageFilters, *, limit: int,
               after: str | None = None) -> tuple[list[Message], str | None]:
    """Newest first; raises cursor.BadCursor for a foreign cursor."""
    where: list[str] = ["business_id = $1"]
    args: list[object] = [business_id]
    for column, value in (("status", filters.status), ("contact_id", filters.contact_id),
                          ("campaign_id", filters.campaign_id), ("to_phone", filters.to_phone)):
        if value is not None:
            args.append(value)
            where.append(f"{column} = ${len(args)}")
    if after is not None:
        at, last_id = cursor.decode(after)
        args.extend((at, last_id))
        where.append(f"(created_at, id) < (${len(args) - 1}, ${len(args)})")
    args.append(limit + 1)
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM sms_outbox WHERE {' AND '.join(where)}"
                          f" ORDER BY created_at DESC, id DESC LIMIT ${len(args)}", *args)
    found = [message_of(r) for r in rows[:limit]]
    more = len(rows) > limit and found
    return found, cursor.encode(found[-1].created_at, found[-1].id) if more else None


async def recent_for_contact(db: Executor, contact_id: uuid.UUID, limit: int = 10) -> list[Message]:
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM sms_outbox WHERE contact_id = $1"
                          " ORDER BY created_at DESC, id DESC LIMIT $2", contact_id, limit)
    return [message_of(r) for r in rows]


async def retry(db: Executor, business_id: uuid.UUID, message_id: uuid.UUID, *, now: datetime.datetime) -> Message:
    """Queue a failed, undelivered or canceled message again (a fresh send: new attempts, no sid).

    A campaign's message goes with its campaign: a canceled campaign's can't be retried, and a
    completed campaign is `sending` again until it is done (its hold is placed anew when the
    dispatcher finds the text unpaid for); a paused one's waits for the resume.

    Raises:
        NotFound, NotRetryable.
    """
    async with transaction(db) as conn:
        row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM sms_outbox WHERE id = $1 AND business_id = $2"
                                  " FOR UPDATE", message_id, business_id)
        if row is None:
            raise NotFound("message not found")
        if row["status"] not in ("failed", "undelivered", "canceled"):
            raise NotRetryable(f"a {row['status']} message can't be retried")
        if row["message_sid"] is not None and await conn.fetchval("SELECT paid_at IS NULL FROM sms_outbox"
                                                                  " WHERE id = $1", message_id):
            raise NotRetryable("its first send is still being paid for; try again in a moment")
        if row["campaign_id"] is not None:
            campaign = await conn.fetchval("SELECT status FROM campaigns WHERE id = $1 FOR UPDATE", row["campaign_id"])
            if campaign == "canceled":
                raise NotRetryable("its campaign was canceled")
            await conn.execute("UPDATE campaigns SET status = 'sending', finished_at = NULL WHERE id = $1"
                               " AND status = 'completed'", row["campaign_id"])
        updated = await conn.fetchrow(
            f"UPDATE sms_outbox SET status = 'queued', attempts = 0, verify = false, message_sid = NULL, paid_at = NULL,"
            f" error_code = NULL, error_message = NULL, send_started_at = NULL, not_before = $2, updated_at = $2"
            f" WHERE id = $1 RETURNING {_COLUMNS}", message_id, now)
        await add_event(conn, message_id, "queued", None, "retry", now)
        assert updated is not None
        return message_of(updated)


async def stats(db: Executor, business_id: uuid.UUID, *, since: datetime.datetime) -> dict[str, int]:
    """Messages per status created since `since`, plus segments and the amount debited (minor units)."""
    rows = await db.fetch("SELECT status, count(*) AS n FROM sms_outbox WHERE business_id = $1 AND created_at >= $2"
                          " GROUP BY status", business_id, since)
    totals = await db.fetchrow(
        "SELECT coalesce(sum(segments) FILTER (WHERE message_sid IS NOT NULL), 0)::bigint AS segments,"
        " coalesce(sum(price_minor), 0)::bigint AS cost FROM sms_outbox WHERE business_id = $1 AND created_at >= $2",
        business_id, since)
    assert totals is not None
    counts = {status: 0 for status in RANK}
    counts.update({r["status"]: r["n"] for r in rows})
    return {**counts, "segmentsSent": totals["segments"], "costMinor": totals["cost"]}
