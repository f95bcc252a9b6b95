"""A calendar_booking action as the model's tool: one `operation` (availability, book, cancel) on its calendar.

Its parameters are fixed (the server's, not the business's): the model asks for a day's free
slots, books a local date and time (`2026-12-09T14:30`, read in the business's timezone), or
cancels a booking it made. A slot that is taken, past, closed or too far ahead is not booked:
the answer says why and offers up to three free slots from then on (from now when it has passed).
"""

from __future__ import annotations

import datetime
from typing import Any
from zoneinfo import ZoneInfo

from automations.action_config import CalendarConfig
from automations.calendar_provider import CalendarProvider, CalendarUnavailable, why_not

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "operation": {"type": "string", "enum": ["availability", "book", "cancel"],
                      "description": "availability: a day's free slots; book: one slot; cancel: a booking"},
        "date": {"type": "string", "format": "date", "description": "YYYY-MM-DD, for availability"},
        "start": {"type": "string", "maxLength": 25,
                  "description": "YYYY-MM-DDTHH:MM in the business's local time, to book"},
        "name": {"type": "string", "maxLength": 200, "description": "who the booking is for"},
        "phone": {"type": "string", "maxLength": 40},
        "email": {"type": "string", "maxLength": 254},
        "notes": {"type": "string", "maxLength": 1000},
        "bookingId": {"type": "string", "maxLength": 64, "description": "the booking to cancel"},
    },
    "required": ["operation"],
    "additionalProperties": False,
}
_MAX_LISTED = 48
MAX_ALTERNATIVES = 3
# Alternatives are looked for this many days on at most (each day is one availability question to the calendar).
_SEARCH_DAYS = 14


def _local(moment: datetime.datetime, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).isoformat(timespec="minutes")


def _read_start(raw: str, tz: ZoneInfo) -> datetime.datetime | None:
    try:
        parsed = datetime.datetime.fromisoformat(raw)
    except ValueError:
        return None
    return parsed.replace(tzinfo=tz) if parsed.tzinfo is None else parsed


async def run(calendar: CalendarProvider, config: CalendarConfig, tz: ZoneInfo, args: dict[str, Any], *,
              idempotency_key: str, now: datetime.datetime) -> tuple[bool, dict[str, Any]]:
    """Do the operation; (succeeded, what the model is told)."""
    try:
        return await _operation(calendar, config, tz, args, idempotency_key=idempotency_key, now=now)
    except CalendarUnavailable as exc:
        return False, {"error": str(exc)[:300]}


async def _operation(calendar: CalendarProvider, config: CalendarConfig, tz: ZoneInfo, args: dict[str, Any], *,
                     idempotency_key: str, now: datetime.datetime) -> tuple[bool, dict[str, Any]]:
    operation = args["operation"]
    if operation == "availability":
        try:
            day = datetime.date.fromisoformat(args.get("date") or now.astimezone(tz).date().isoformat())
        except ValueError:
            return False, {"error": "date must be YYYY-MM-DD"}
        free = await calendar.availability(day, now=now)
        return True, {"date": day.isoformat(), "timezone": str(tz), "slotMinutes": config.slot_minutes,
                      "freeSlots": [_local(s, tz) for s in free[:_MAX_LISTED]]}
    if operation == "cancel":
        booking_id = str(args.get("bookingId") or "")
        if not booking_id:
            return False, {"error": "bookingId: give the id the booking returned"}
        cancelled = await calendar.cancel(booking_id, now=now)
        return cancelled, {"cancelled": cancelled} if cancelled else {"error": "no such booking"}
    return await _book(calendar, config, tz, args, idempotency_key=idempotency_key, now=now)


async def _book(calendar: CalendarProvider, config: CalendarConfig, tz: ZoneInfo, args: dict[str, Any], *,
                idempotency_key: str, now: datetime.datetime) -> tuple[bool, dict[str, Any]]:
    start = _read_start(str(args.get("start") or ""), tz)
    if start is None:
        return False, {"booked": False, "error": "start: give the local date and time as YYYY-MM-DDTHH:MM"}
    reason = why_not(config, start, tz, now)
    booking = None
    if reason is None:
        details = {k: args[k] for k in ("phone", "email", "notes") if args.get(k)}
        booking = await calendar.book(start, name=str(args.get("name") or ""), details=details,
                                      idempotency_key=idempotency_key, now=now)
        reason = "taken" if booking is None else None
    if booking is not None:
        return True, {"booked": True, "bookingId": str(booking.id), "start": _local(booking.start, tz),
                      "end": _local(booking.end, tz), "timezone": str(tz)}
    offered = await alternatives(calendar, config, start, tz, now)
    return False, {"booked": False, "reason": reason, "alternatives": [_local(s, tz) for s in offered],
                   "timezone": str(tz)}


async def alternatives(calendar: CalendarProvider, config: CalendarConfig, after: datetime.datetime, tz: ZoneInfo,
                       now: datetime.datetime) -> list[datetime.datetime]:
    """Up to three free slots from `after` on (from now, when `after` has passed), within `days_ahead`."""
    earliest = max(after, now)
    last = now + datetime.timedelta(days=config.days_ahead)
    day = earliest.astimezone(tz).date()
    found: list[datetime.datetime] = []
    for _ in range(_SEARCH_DAYS):
        if datetime.datetime.combine(day, datetime.time(), tz) > last:
            break
        found += [s for s in await calendar.availability(day, now=now) if earliest <= s <= last]
        if len(found) >= MAX_ALTERNATIVES:
            break
        day += datetime.timedelta(days=1)
    return found[:MAX_ALTERNATIVES]
