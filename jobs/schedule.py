"""Recurring schedules: the small subset of cron the jobs need, in UTC.

Five fields, `minute hour day-of-month month day-of-week`, each `*`, `*/N` or one number
(day of week also `MON`..`SUN`; 0 and 7 are Sunday, as in cron); day of month and month must
be `*`. That covers every schedule asked for: `*/5 * * * *` (every five minutes), `15 * * * *`
(hourly), `30 2 * * *` (daily at 02:30), `0 9 * * MON` (weekly), `0 */6 * * *`. Anything else
is refused at start-up rather than run at a surprising time.
"""

from __future__ import annotations

import dataclasses
import datetime

_WEEKDAYS = {"MON": 1, "TUE": 2, "WED": 3, "THU": 4, "FRI": 5, "SAT": 6, "SUN": 0}
# A week plus a day covers every due time of a schedule whose days repeat weekly.
_SEARCH_DAYS = 8


def _field(text: str, name: str, low: int, high: int) -> tuple[int, ...]:
    if text == "*":
        return tuple(range(low, high + 1))
    if text.startswith("*/"):
        step = _number(text[2:], name)
        if not 1 <= step <= high:
            raise ValueError(f"{name}: step {step} is out of range 1-{high}")
        return tuple(range(low, high + 1, step))
    value = _number(text, name)
    if not low <= value <= high:
        raise ValueError(f"{name}: {value} is out of range {low}-{high}")
    return (value,)


def _number(text: str, name: str) -> int:
    if not text.isdigit():
        raise ValueError(f"{name}: expected *, */N or a number, got {text!r}")
    return int(text)


@dataclasses.dataclass(frozen=True)
class Schedule:
    """When a recurring job is due: minutes and hours of the day, on some days of the week (UTC)."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    # Python's numbering: Monday is 0.
    weekdays: frozenset[int]

    @classmethod
    def parse(cls, expression: str) -> Schedule:
        """Parse a cron expression of the supported subset.

        Raises:
            ValueError: naming the field that is not supported.
        """
        fields = expression.split()
        if len(fields) != 5:
            raise ValueError(f"{expression!r}: expected 5 fields (minute hour day month weekday)")
        minute, hour, day, month, weekday = fields
        if day != "*" or month != "*":
            raise ValueError(f"{expression!r}: day of month and month must be *")
        if weekday == "*":
            days = frozenset(range(7))
        else:
            cron_day = _WEEKDAYS.get(weekday.upper())
            if cron_day is None:
                (cron_day,) = _field(weekday, "day of week", 0, 7)
            days = frozenset({(cron_day - 1) % 7})
        return cls(expression, _field(minute, "minute", 0, 59), _field(hour, "hour", 0, 23), days)

    def _times_on(self, day: datetime.date) -> list[datetime.datetime]:
        if day.weekday() not in self.weekdays:
            return []
        return [datetime.datetime(day.year, day.month, day.day, h, m, tzinfo=datetime.UTC)
                for h in self.hours for m in self.minutes]

    def latest_due(self, now: datetime.datetime) -> datetime.datetime:
        """The last due time at or before `now`."""
        today = now.astimezone(datetime.UTC).date()
        for back in range(_SEARCH_DAYS):
            past = [t for t in self._times_on(today - datetime.timedelta(days=back)) if t <= now]
            if past:
                return past[-1]
        raise AssertionError(f"{self.expression}: no due time in a week")  # every schedule has a weekday

    def next_due(self, after: datetime.datetime) -> datetime.datetime:
        """The first due time strictly after `after`."""
        today = after.astimezone(datetime.UTC).date()
        for ahead in range(_SEARCH_DAYS):
            future = [t for t in self._times_on(today + datetime.timedelta(days=ahead)) if t > after]
            if future:
                return future[0]
        raise AssertionError(f"{self.expression}: no due time in a week")
