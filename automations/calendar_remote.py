"""A `remote` calendar: the bookings are kept by the business's own service at `baseUrl`, asked over signed POSTs.

Each request is a Standard Webhooks message signed with the action's secret, like a webhook
call, to `{baseUrl}/availability`, `/book` or `/cancel`; its `data` is the question:

- availability `{date, timezone, slotMinutes, slots}` (the day's slots by the opening hours) →
  200 `{"free": [...]}`, the free ones among them;
- book `{start, end, name, details, idempotencyKey}` → 2xx `{"id": "..."}` booked, 409 taken;
  its `webhook-id` is derived from the key, so a retried booking reads as the same message;
- cancel `{bookingId}` → 2xx cancelled, 404 no such booking.

Any other answer is `CalendarUnavailable` (told to the model); no answer within the action's
timeout is a timeout, and the run is recorded `timed_out`.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Collection
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import msgspec

from automations.action_config import CalendarConfig
from automations.action_http import Answer, call
from automations.calendar_provider import Booking, CalendarUnavailable, day_slots


class RemoteCalendar:
    """The `CalendarProvider` of a calendar_booking action whose bookings live at its `baseUrl`."""

    def __init__(self, session: aiohttp.ClientSession, config: CalendarConfig, tz: ZoneInfo, *, secret: str,
                 allowed_private_hosts: Collection[str], timeout: float) -> None:
        assert config.base_url is not None
        self._session = session
        self._base = config.base_url.rstrip("/")
        self._config = config
        self._tz = tz
        self._secret = secret
        self._allowed = allowed_private_hosts
        self._timeout = timeout

    async def _ask(self, operation: str, data: dict[str, Any], message_id: uuid.UUID,
                   now: datetime.datetime) -> tuple[Answer, Any]:
        answer = await call(self._session, f"{self._base}/{operation}", event_type=f"calendar.{operation}",
                            data=data, secret=self._secret, execution_id=message_id, extra_headers={}, now=now,
                            allowed_private_hosts=self._allowed, timeout=self._timeout, max_bytes=64 * 1024)
        if answer.timed_out:
            raise TimeoutError(answer.error)
        if answer.status is None:
            raise CalendarUnavailable(f"the calendar did not answer: {answer.error}")
        try:
            body = msgspec.json.decode(answer.body) if answer.body.strip() and not answer.truncated else None
        except msgspec.DecodeError:
            body = None
        return answer, body

    async def availability(self, day: datetime.date, *, now: datetime.datetime) -> list[datetime.datetime]:
        slots = [s for s in day_slots(self._config, day, self._tz) if s > now]
        if not slots:
            return []
        answer, body = await self._ask("availability", {
            "date": day.isoformat(), "timezone": str(self._tz), "slotMinutes": self._config.slot_minutes,
            "slots": [s.isoformat() for s in slots]}, uuid.uuid4(), now)
        if not answer.ok or not isinstance(body, dict) or not isinstance(body.get("free"), list):
            raise CalendarUnavailable(f"the calendar answered availability with HTTP {answer.status}")
        free = set()
        for raw in body["free"]:
            try:
                free.add(datetime.datetime.fromisoformat(str(raw)))
            except ValueError:
                continue
        return [s for s in slots if s in free]

    async def book(self, start: datetime.datetime, *, name: str, details: dict[str, Any], idempotency_key: str,
                   now: datetime.datetime) -> Booking | None:
        end = start + datetime.timedelta(minutes=self._config.slot_minutes)
        message_id = uuid.uuid5(uuid.NAMESPACE_URL, f"calendar-book:{idempotency_key}")
        answer, body = await self._ask("book", {"start": start.isoformat(), "end": end.isoformat(), "name": name,
                                                "details": details, "idempotencyKey": idempotency_key},
                                       message_id, now)
        if answer.status == 409:
            return None
        if not answer.ok or not isinstance(body, dict) or not body.get("id"):
            raise CalendarUnavailable(f"the calendar answered the booking with HTTP {answer.status}")
        return Booking(str(body["id"])[:200], start, end, name, "booked")

    async def cancel(self, booking_id: str, *, now: datetime.datetime) -> bool:
        answer, _ = await self._ask("cancel", {"bookingId": booking_id}, uuid.uuid4(), now)
        if answer.status == 404:
            return False
        if not answer.ok:
            raise CalendarUnavailable(f"the calendar answered the cancel with HTTP {answer.status}")
        return True
