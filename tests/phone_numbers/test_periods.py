"""Rent periods: monthly from the purchase day, clamped in short months, never drifting."""

from __future__ import annotations

import calendar
import datetime

from hypothesis import given
from hypothesis import strategies as st

from phone_numbers.periods import add_months, grace_over, period_label, period_start, rent_key

UTC = datetime.UTC


def test_a_month_end_purchase_is_due_at_each_month_end_without_drift() -> None:
    anchor = datetime.datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
    days = [period_start(anchor, k).date().isoformat() for k in range(5)]
    assert days == ["2026-01-31", "2026-02-28", "2026-03-31", "2026-04-30", "2026-05-31"]
    assert period_start(datetime.datetime(2027, 12, 29, tzinfo=UTC), 2).date().isoformat() == "2028-02-29"


@given(st.datetimes(min_value=datetime.datetime(2000, 1, 1), max_value=datetime.datetime(2100, 1, 1),
                    timezones=st.just(UTC)), st.integers(0, 240))
def test_periods_are_increasing_and_about_a_month_long(anchor: datetime.datetime, k: int) -> None:
    start, end = period_start(anchor, k), period_start(anchor, k + 1)
    assert datetime.timedelta(days=28) <= end - start <= datetime.timedelta(days=31)
    # The anchor's day, or the month's last day when the month is shorter.
    assert start.day == min(anchor.day, calendar.monthrange(start.year, start.month)[1])
    assert add_months(anchor, k) == start


def test_rent_key_names_the_number_and_the_periods_first_day_in_utc() -> None:
    start = datetime.datetime(2026, 3, 1, 2, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=5)))
    assert period_label(start) == "2026-02-28"
    assert rent_key("PN123", start) == "number_rent:PN123:2026-02-28"


def test_grace_ends_exactly_grace_after_the_due_time() -> None:
    due = datetime.datetime(2026, 2, 28, tzinfo=UTC)
    grace = datetime.timedelta(days=7)
    assert not grace_over(due, grace, due + grace - datetime.timedelta(seconds=1))
    assert grace_over(due, grace, due + grace)
