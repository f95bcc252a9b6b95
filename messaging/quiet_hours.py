"""When a marketing text may reach a recipient: a daily window in the recipient's own zone.

US rules (TCPA and state laws) count sending hours in the recipient's local time, so the
zone is the contact's when it has one, else the zones its number's area belongs to (an area
spanning several zones must be inside the window in all of them), else the business's. The
window is the platform's default narrowed by the business and the campaign: each may start
later or end earlier, never widen it. Outside the window a message is deferred to the next
opening, never dropped; inside it, its carrier validity is the time left, so a message that
sits in a queue is discarded by the carrier rather than delivered late.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers import timezone as number_zones

# Twilio's ValidityPeriod is between 1 s and 36,000 s (10 h).
MAX_VALIDITY_SECONDS: Final = 36_000
_LOOKAHEAD_DAYS: Final = 3


@dataclass(frozen=True, slots=True)
class Window:
    """Local wall-clock hours, `start` inclusive and `end` exclusive (start < end, no midnight wrap)."""

    start: datetime.time
    end: datetime.time

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise ValueError(f"a sending window must start before it ends, got {self.start}-{self.end}")

    @classmethod
    def parse(cls, text: str) -> Window:
        """`"08:00-21:00"` as a window."""
        start, sep, end = text.partition("-")
        if not sep:
            raise ValueError(f"expected HH:MM-HH:MM, got {text!r}")
        return cls(datetime.time.fromisoformat(start.strip()), datetime.time.fromisoformat(end.strip()))


def narrowed(default: Window, *narrower: Window | None) -> Window:
    """The default window cut by each narrower one: a later start or an earlier end wins, never a wider one.

    Raises:
        ValueError: the windows leave no hours at all.
    """
    start, end = default.start, default.end
    for window in narrower:
        if window is not None:
            start, end = max(start, window.start), min(end, window.end)
    return Window(start, end)


@lru_cache(maxsize=4096)
def zones_of_number(e164: str) -> tuple[str, ...]:
    """The IANA zones `phonenumbers` gives a number's area (empty when unknown)."""
    try:
        parsed = phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return ()
    zones = tuple(z for z in number_zones.time_zones_for_number(parsed) if z != number_zones.UNKNOWN_TIMEZONE)
    return tuple(z for z in zones if _zone(z) is not None)


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def is_zone(name: str) -> bool:
    """Whether `name` is an IANA zone this system knows."""
    return _zone(name) is not None


def recipient_zones(contact_zone: str | None, e164: str, business_zone: str) -> tuple[ZoneInfo, ...]:
    """The zones the window must hold in: the contact's, else the number's, else the business's."""
    if contact_zone and (zone := _zone(contact_zone)) is not None:
        return (zone,)
    found = tuple(z for name in zones_of_number(e164) if (z := _zone(name)) is not None)
    if found:
        return found
    return (_zone(business_zone) or ZoneInfo("UTC"),)


@dataclass(frozen=True, slots=True)
class Verdict:
    """Send now with `validity_seconds` left in the window (`open`), or wait until `opens_at`."""

    open: bool
    validity_seconds: int
    opens_at: datetime.datetime | None


def _bounds(now: datetime.datetime, zone: ZoneInfo, window: Window, day_offset: int) -> tuple[datetime.datetime,
                                                                                               datetime.datetime]:
    day = now.astimezone(zone).date() + datetime.timedelta(days=day_offset)
    start = datetime.datetime.combine(day, window.start, tzinfo=zone)
    end = datetime.datetime.combine(day, window.end, tzinfo=zone)
    return start.astimezone(datetime.UTC), end.astimezone(datetime.UTC)


def _closes_at(at: datetime.datetime, zone: ZoneInfo, window: Window) -> datetime.datetime | None:
    """When the window that is open at `at` in `zone` closes, or None when it is closed then."""
    for offset in (-1, 0, 1):
        start, end = _bounds(at, zone, window, offset)
        if start <= at < end:
            return end
    return None


def check(now: datetime.datetime, zones: Sequence[ZoneInfo], window: Window) -> Verdict:
    """Whether a text may go at `now` (aware) to a recipient in all of `zones`, and for how long.

    Closed windows answer the earliest instant at which every zone's window is open; zones
    whose windows never overlap (within three days) fall back to the first zone alone.
    """
    closes = [_closes_at(now, z, window) for z in zones]
    if all(c is not None for c in closes):
        left = min(c for c in closes if c is not None) - now
        return Verdict(True, max(1, min(MAX_VALIDITY_SECONDS, int(left.total_seconds()))), None)
    candidates = sorted(start for z in zones for d in range(_LOOKAHEAD_DAYS + 1)
                        if (start := _bounds(now, z, window, d)[0]) > now)
    for at in candidates:
        if all(_closes_at(at, z, window) is not None for z in zones):
            return Verdict(False, 0, at)
    return check(now, zones[:1], window)
