"""Retention: old sent texts, their status history and finished campaigns' recipient lists deleted, in bounded batches.

`[sms] retention_days` (400 by default: a year of history plus a month, so last year's
campaign can still be compared with this year's) after a text last changed, its outbox row
goes, and its status events with it (`ON DELETE CASCADE`); a campaign's recipient snapshot
goes that long after the campaign finished. Deleted, not archived: the point is to stop
keeping people's phone numbers and message bodies once they are no longer useful.

What is never touched: the consent log (`consent_events`, append-only, and the record an
opt-out dispute needs for years), suppressions, contacts, campaign rows (their hold is
money's), and everything money keeps: ledger entries carry their own amounts and usage
details (segments, provider cost), so a statement reads the same after its texts are gone.
A text is deleted only once its money is settled: it has a final status (or `sent`, which
carriers without delivery receipts never move past), it was paid for if Twilio took it, and
its campaign, if any, is completed
or canceled, so its hold is closed and nothing counts its unpaid texts any more. Queued and
in-flight texts are kept however old.

Each batch is one short transaction of at most `BATCH` rows taken with `FOR UPDATE SKIP
LOCKED`, so a run never holds many locks, never waits on the dispatcher or a callback, and
two runs at once (one job per due time is the rule; a slow one overlapping the next is the
exception) delete each row once between them.
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Final

import asyncpg
import structlog

from jobs.queue import Job
from jobs.runner import Clock
from messaging.config import SmsConfig
from storage.executor import Executor

log = structlog.get_logger(__name__)

RETENTION_KIND: Final = "messaging.retention"
# Daily, in the quiet of the night in the Americas.
RETENTION_SCHEDULE: Final = "40 7 * * *"
BATCH: Final = 1000

_RECIPIENTS: Final = """
DELETE FROM campaign_recipients WHERE (campaign_id, phone) IN (
  SELECT r.campaign_id, r.phone FROM campaign_recipients r JOIN campaigns k ON k.id = r.campaign_id
   WHERE k.status IN ('completed', 'canceled') AND coalesce(k.finished_at, k.created_at) < $1
   LIMIT $2 FOR UPDATE OF r SKIP LOCKED)
"""

_TEXTS: Final = """
DELETE FROM sms_outbox WHERE id IN (
  SELECT o.id FROM sms_outbox o LEFT JOIN campaigns k ON k.id = o.campaign_id
   WHERE o.created_at < $1 AND o.updated_at < $1
     AND o.status IN ('sent', 'delivered', 'undelivered', 'failed', 'canceled')
     AND (o.message_sid IS NULL OR o.paid_at IS NOT NULL)
     AND (o.campaign_id IS NULL OR k.status IN ('completed', 'canceled') OR k.id IS NULL)
   LIMIT $2 FOR UPDATE OF o SKIP LOCKED)
"""


@dataclasses.dataclass(frozen=True)
class Purged:
    recipients: int
    texts: int


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


async def _drain(db: Executor, sql: str, cutoff: datetime.datetime, batch: int) -> int:
    total = 0
    while True:
        deleted = _count(await db.execute(sql, cutoff, batch))
        total += deleted
        if deleted < batch:
            return total


async def purge(db: Executor, config: SmsConfig, *, now: datetime.datetime, batch: int = BATCH) -> Purged:
    """Delete what is older than the retention, `batch` rows per statement, until nothing is left.

    Recipients go first: deleting a text first would rewrite their `message_id` to NULL only
    for them to be deleted next.
    """
    cutoff = now - datetime.timedelta(days=config.retention_days)
    return Purged(await _drain(db, _RECIPIENTS, cutoff, batch), await _drain(db, _TEXTS, cutoff, batch))


class SmsRetention:
    """`messaging.retention`: once a day, texts and recipient lists past `[sms] retention_days` deleted."""

    def __init__(self, pool: asyncpg.Pool, config: SmsConfig, *, clock: Clock) -> None:
        self._pool, self._config, self._clock = pool, config, clock

    async def __call__(self, job: Job) -> None:
        purged = await purge(self._pool, self._config, now=self._clock())
        log.info("sms_retention", texts=purged.texts, recipients=purged.recipients,
                 retention_days=self._config.retention_days)
