"""Rent periods of a number: monthly from the day it was bought, as pure date arithmetic.

Period ``k`` of a number runs from ``anchor + k months`` to ``anchor + (k+1) months``, each
computed from the anchor (not from the previous period) so a number bought on the 31st is
due on the 28th/29th/30th in short months and back on the 31st after, never drifting.
"""

from __future__ import annotations

import calendar
import datetime


def add_months(moment: datetime.datetime, months: int) -> datetime.datetime:
    """`moment` moved by whole calendar months, the day clamped to the target month's length."""
    if months < 0:
        raise ValueError("months must not be negative")
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_start(anchor: datetime.datetime, index: int) -> datetime.datetime:
    """Start of period `index` (0 is the month paid at purchase)."""
    return add_months(anchor, index)


def period_label(start: datetime.datetime) -> str:
    """The period's name in keys and references: its first day in UTC, e.g. ``2026-04-15``."""
    return start.astimezone(datetime.UTC).date().isoformat()


def rent_key(twilio_sid: str, start: datetime.datetime) -> str:
    """Idempotency key of one period's rent: one charge per number and period, whoever runs the job."""
    return f"number_rent:{twilio_sid}:{period_label(start)}"


def grace_over(due: datetime.datetime, grace: datetime.timedelta, now: datetime.datetime) -> bool:
    """Whether rent due at `due` and still unpaid at `now` has outlived its grace period."""
    return now >= due + grace
