"""Consent: an append-only log of each phone's opt-ins and opt-outs per business, and the suppression it feeds.

An opt-out (STOP to any of the business's numbers, the dashboard, the API, a carrier's 21610)
suppresses the phone for every number of the business, since the person asked the business,
not one of its numbers, to stop. Only the person can lift it: a START keyword. Consent given
on import or through the API is recorded but never lifts a suppression, so no dashboard
action can undo an opt-out.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import uuid

from storage.executor import Executor
from storage.transactions import transaction


class Source(enum.StrEnum):
    KEYWORD = "keyword"
    DASHBOARD = "dashboard"
    IMPORT = "import"
    API = "api"
    CARRIER = "carrier"


@dataclasses.dataclass(frozen=True)
class Suppression:
    phone: str
    source: str
    detail: str
    suppressed_at: datetime.datetime


async def opt_out(db: Executor, business_id: uuid.UUID, phone: str, *, source: Source, detail: str = "",
                  number_id: uuid.UUID | None = None) -> None:
    """Record an opt-out and suppress the phone for all of the business's numbers (repeats are recorded too)."""
    async with transaction(db) as conn:
        await conn.execute("INSERT INTO consent_events (business_id, phone, action, source, detail, number_id)"
                           " VALUES ($1, $2, 'opt_out', $3, $4, $5)", business_id, phone, source.value, detail,
                           number_id)
        await conn.execute("INSERT INTO suppressions (business_id, phone, source, detail) VALUES ($1, $2, $3, $4)"
                           " ON CONFLICT (business_id, phone) DO NOTHING", business_id, phone, source.value, detail)


async def opt_in(db: Executor, business_id: uuid.UUID, phone: str, *, source: Source, detail: str = "",
                 number_id: uuid.UUID | None = None) -> bool:
    """Record an opt-in; only a keyword (the person texting START) lifts a suppression.

    Returns:
        Whether a suppression was lifted.
    """
    async with transaction(db) as conn:
        await conn.execute("INSERT INTO consent_events (business_id, phone, action, source, detail, number_id)"
                           " VALUES ($1, $2, 'opt_in', $3, $4, $5)", business_id, phone, source.value, detail,
                           number_id)
        if source is not Source.KEYWORD:
            return False
        lifted = await conn.fetchval("DELETE FROM suppressions WHERE business_id = $1 AND phone = $2 RETURNING 1",
                                     business_id, phone)
        return lifted is not None


async def is_suppressed(db: Executor, business_id: uuid.UUID, phone: str) -> bool:
    found: bool = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM suppressions WHERE business_id = $1 AND phone = $2)", business_id, phone)
    return found


async def suppressions(db: Executor, business_id: uuid.UUID, *, limit: int) -> list[Suppression]:
    rows = await db.fetch("SELECT phone, source, detail, suppressed_at FROM suppressions WHERE business_id = $1"
                          " ORDER BY suppressed_at DESC, phone LIMIT $2", business_id, limit)
    return [Suppression(r["phone"], r["source"], r["detail"], r["suppressed_at"]) for r in rows]


async def history(db: Executor, business_id: uuid.UUID, phone: str) -> list[tuple[str, str, datetime.datetime]]:
    """A phone's consent events, oldest first: (action, source, at)."""
    rows = await db.fetch("SELECT action, source, created_at FROM consent_events WHERE business_id = $1"
                          " AND phone = $2 ORDER BY id", business_id, phone)
    return [(r["action"], r["source"], r["created_at"]) for r in rows]


async def mark_undeliverable(db: Executor, business_id: uuid.UUID, phone: str, error_code: int) -> None:
    """The carrier said this phone can't get texts (21211, 30005, 30006): later sends skip it."""
    await db.execute("INSERT INTO undeliverable_phones (business_id, phone, error_code) VALUES ($1, $2, $3)"
                     " ON CONFLICT (business_id, phone) DO UPDATE SET error_code = excluded.error_code,"
                     " marked_at = now()", business_id, phone, error_code)


async def is_undeliverable(db: Executor, business_id: uuid.UUID, phone: str) -> bool:
    found: bool = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM undeliverable_phones WHERE business_id = $1 AND phone = $2)",
        business_id, phone)
    return found
