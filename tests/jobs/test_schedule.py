"""The cron subset: every supported form lands on the due times cron would, anything else is refused."""

from __future__ import annotations

import datetime

import pytest

from jobs.schedule import Schedule


def at(day: int, hour: int, minute: int, second: int = 0) -> datetime.datetime:
    # March 2026: the 2nd is a Monday.
    return datetime.datetime(2026, 3, day, hour, minute, second, tzinfo=datetime.UTC)


@pytest.mark.parametrize(("expression", "now", "latest", "following"), [
    ("*/5 * * * *", at(4, 10, 7, 30), at(4, 10, 5), at(4, 10, 10)),
    ("*/5 * * * *", at(4, 10, 5), at(4, 10, 5), at(4, 10, 10)),
    ("15 * * * *", at(4, 10, 7), at(4, 9, 15), at(4, 10, 15)),
    ("30 2 * * *", at(4, 1, 0), at(3, 2, 30), at(4, 2, 30)),
    ("0 9 * * MON", at(4, 12, 0), at(2, 9, 0), at(9, 9, 0)),
    ("0 9 * * 1", at(2, 8, 59), datetime.datetime(2026, 2, 23, 9, 0, tzinfo=datetime.UTC), at(2, 9, 0)),
    ("0 */6 * * *", at(4, 13, 0), at(4, 12, 0), at(4, 18, 0)),
    ("0 */6 * * *", at(4, 23, 59), at(4, 18, 0), at(5, 0, 0)),
    ("0 0 * * 0", at(4, 0, 0), at(1, 0, 0), at(8, 0, 0)),
    ("0 0 * * 7", at(4, 0, 0), at(1, 0, 0), at(8, 0, 0)),
])
def test_due_times_match_cron(expression: str, now: datetime.datetime, latest: datetime.datetime,
                              following: datetime.datetime) -> None:
    schedule = Schedule.parse(expression)
    assert schedule.latest_due(now) == latest
    assert schedule.next_due(latest) == following


@pytest.mark.parametrize("expression", [
    "* * * *", "0 9 1 * *", "0 9 * 1 *", "*/0 * * * *", "60 * * * *", "0 24 * * *", "0 9 * * FUNDAY",
    "1,2 * * * *", "0-5 * * * *", "0 9 * * 8",
])
def test_unsupported_expressions_are_refused(expression: str) -> None:
    with pytest.raises(ValueError):
        Schedule.parse(expression)
