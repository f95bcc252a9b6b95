"""A clock the test moves by hand, injected into the runner and the queue."""

from __future__ import annotations

import datetime


class ManualClock:
    """Returns `now` until the test moves it."""

    def __init__(self, now: datetime.datetime) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += datetime.timedelta(**delta)
