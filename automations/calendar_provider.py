"""The calendar seam: a `CalendarProvider` protocol (availability, book, cancel) and the pure slot arithmetic.

Times are aware datetimes in the business's timezone (`businesses.timezone`): opening hours
are local ("09:00"), so a slot is 09:00 local whatever the offset of that day (DST included).
A slot is `slot_minutes` long and starts on a whole step from the start of an opening range;
a booking is exactly one slot. The built-in provider is `calendar_local.LocalCalendar`, the
business's own service `calendar_remote.RemoteCalendar`; an OAuth calendar would be another
implementation of the same protocol.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from automations.action_config import CalendarConfig, opening_ranges

class CalendarUnavailable(Exception):
    """The calendar could not answer (a remote one's error); the model is told, nothing is booked by us."""


@dataclasses.dataclass(frozen=True)
class Booking:
    """A booking as its calendar keeps it (`id` is the calendar's own: a UUID for the local one)."""

    id: str
    start: datetime.datetime
    end: datetime.datetime
    name: str
    status: str


class CalendarProvider(Protocol):
    """A calendar an action books on; `book` with the same idempotency key books once and returns that booking."""

    async def availability(self, day: datetime.date, *, now: datetime.datetime) -> list[datetime.datetime]:
        """The free slots' starts on `day` (local), none in the past."""
        ...

    async def book(self, start: datetime.datetime, *, name: str, details: dict[str, Any], idempotency_key: str,
                   now: datetime.datetime) -> Booking | None:
        """Book the slot starting at `start`; None when it is taken."""
        ...

    async def cancel(self, booking_id: str, *, now: datetime.datetime) -> bool:
        """Cancel a booking of this calendar; False when there is no such live booking."""
        ...


def zone(name: str) -> ZoneInfo:
    """The business's timezone (UTC when the name is unknown)."""
    try:
        return ZoneInfo(name)
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


def day_slots(config: CalendarConfig, day: datetime.date, tz: ZoneInfo) -> list[datetime.datetime]:
    """Every slot start of the day by the opening hours (taken or not, past or not)."""
    step = datetime.timedelta(minutes=config.slot_minutes)
    found = []
    for opens, closes in opening_ranges(config, day):
        start = datetime.datetime.combine(day, opens, tz)
        end = datetime.datetime.combine(day + datetime.timedelta(days=1) if closes is None else day,
                                        closes or datetime.time(), tz)
        while start + step <= end:
            found.append(start)
            start = start + step
    return found


def why_not(config: CalendarConfig, start: datetime.datetime, tz: ZoneInfo, now: datetime.datetime) -> str | None:
    """Why `start` can't be booked before looking at bookings: `past`, `too_far`, `closed`; None when it may."""
    if start <= now:
        return "past"
    if start > now + datetime.timedelta(days=config.days_ahead):
        return "too_far"
    local = start.astimezone(tz)
    if local not in day_slots(config, local.date(), tz):
        return "closed"
    return None
