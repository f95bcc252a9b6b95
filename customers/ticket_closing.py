"""The `customers.tickets_close` job (hourly): a resolved ticket quiet for 7 days is closed.

Hourly rather than exactly on time: a ticket closes within the hour after its seventh quiet
day, and a missed run (a stopped worker) is made up by the next, which closes everything due.
"""

from __future__ import annotations

import structlog

from customers import tickets
from jobs.queue import Job
from jobs.runner import Clock, Recurring, utc_now
from jobs.schedule import Schedule
from storage.executor import Executor

log = structlog.get_logger(__name__)

CLOSE_KIND = "customers.tickets_close"
CLOSE_SCHEDULE = "41 * * * *"
RECURRING: tuple[Recurring, ...] = (Recurring(CLOSE_KIND, Schedule.parse(CLOSE_SCHEDULE)),)


class CloseQuietTickets:
    """The handler of `customers.tickets_close` jobs."""

    def __init__(self, db: Executor, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    async def __call__(self, job: Job) -> None:
        closed = await tickets.close_quiet(self._db, now=self._clock())
        if closed:
            log.info("tickets_closed", count=closed)
