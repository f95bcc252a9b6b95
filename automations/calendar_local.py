"""The built-in `local` calendar: bookings in PostgreSQL (`calendar_bookings`), one calendar per calendar_booking action.

Booking takes the calendar's lock (a transaction-scoped advisory lock on its id: the embedded
PostgreSQL has no btree_gist for an exclusion constraint), then checks the idempotency key and
overlap and writes the row, so twenty concurrent bookings of one slot make exactly one; a
partial unique index on the slot's start is the second line. The key makes a retried tool call
find its first booking instead of making another.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from automations.action_config import CalendarConfig
from automations.calendar_provider import Booking, day_slots
from storage.executor import Executor
from storage.transactions import transaction

_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('calendar:' || $1::uuid::text, 0))"
_COLUMNS = "id, starts_at, ends_at, name, status"


def _booking(row: asyncpg.Record) -> Booking:
    return Booking(str(row["id"]), row["starts_at"], row["ends_at"], row["name"], row["status"])


class LocalCalendar:
    """The `CalendarProvider` of one calendar_booking action, on the `calendar_bookings` table."""

    def __init__(self, db: Executor, business_id: uuid.UUID, calendar_id: uuid.UUID, config: CalendarConfig,
                 tz: ZoneInfo) -> None:
        self._db = db
        self._business_id = business_id
        self._calendar_id = calendar_id
        self._config = config
        self._tz = tz

    async def taken(self, start: datetime.datetime, end: datetime.datetime) -> set[datetime.datetime]:
        """Starts of the live bookings between `start` and `end`."""
        rows = await self._db.fetch("SELECT starts_at FROM calendar_bookings WHERE calendar_id = $1"
                                    " AND status = 'booked' AND starts_at < $3 AND ends_at > $2",
                                    self._calendar_id, start, end)
        return {r["starts_at"] for r in rows}

    async def availability(self, day: datetime.date, *, now: datetime.datetime) -> list[datetime.datetime]:
        slots = day_slots(self._config, day, self._tz)
        if not slots:
            return []
        taken = await self.taken(slots[0], slots[-1] + datetime.timedelta(minutes=self._config.slot_minutes))
        return [s for s in slots if s > now and s not in taken]

    async def book(self, start: datetime.datetime, *, name: str, details: dict[str, Any], idempotency_key: str,
                   now: datetime.datetime) -> Booking | None:
        end = start + datetime.timedelta(minutes=self._config.slot_minutes)
        async with transaction(self._db) as conn:
            await conn.execute(_LOCK, self._calendar_id)
            again = await conn.fetchrow(f"SELECT {_COLUMNS} FROM calendar_bookings WHERE calendar_id = $1"
                                        " AND idempotency_key = $2", self._calendar_id, idempotency_key)
            if again is not None:
                return _booking(again)
            clash = await conn.fetchval("SELECT 1 FROM calendar_bookings WHERE calendar_id = $1 AND status = 'booked'"
                                        " AND starts_at < $3 AND ends_at > $2", self._calendar_id, start, end)
            if clash:
                return None
            row = await conn.fetchrow(
                "INSERT INTO calendar_bookings (business_id, calendar_id, starts_at, ends_at, name, details,"
                f" idempotency_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}",
                self._business_id, self._calendar_id, start, end, name, details, idempotency_key, now)
        assert row is not None
        return _booking(row)

    async def cancel(self, booking_id: str, *, now: datetime.datetime) -> bool:
        try:
            booking_uuid = uuid.UUID(booking_id)
        except ValueError:
            return False
        async with transaction(self._db) as conn:
            await conn.execute(_LOCK, self._calendar_id)
            done = await conn.fetchval("UPDATE calendar_bookings SET status = 'cancelled', cancelled_at = $3"
                                       " WHERE id = $1 AND calendar_id = $2 AND status = 'booked' RETURNING true",
                                       booking_uuid, self._calendar_id, now)
        return bool(done)
