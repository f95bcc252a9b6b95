"""The `knowledge.refresh` job: queue a crawl of every website source whose daily or weekly refresh is due.

The job recurs every 15 minutes on the job runner, which enqueues it once per due time
across every process (`jobs.queue.enqueue_due`). A source is due when a day (`daily`) or a
week (`weekly`) has passed since its last crawl of any kind (a manual sync counts), and none
is queued or running. Each crawl is queued with its job in one transaction under the source's
row lock (`store.queue_crawl`), so two refresh runs at once queue it once; a business already
running as many crawls as it may is passed over until a later run. The refresh itself is an
ordinary crawl: conditional requests, 304 = unchanged, 404/410 = removed.
"""

from __future__ import annotations

import datetime

import asyncpg
import structlog

from jobs.queue import Job
from jobs.runner import Clock, utc_now
from knowledge import store
from knowledge.config import KnowledgeConfig
from knowledge.crawl_job import queue_crawl_job
from knowledge.errors import CrawlRunning, TooManyCrawls

log = structlog.get_logger(__name__)

REFRESH_KIND = "knowledge.refresh"
REFRESH_SCHEDULE = "*/15 * * * *"
DAILY = datetime.timedelta(days=1)
WEEKLY = datetime.timedelta(days=7)
# Sources looked at per run; the oldest first, the rest at the next run.
BATCH = 200


async def queue_due_refreshes(pool: asyncpg.Pool, config: KnowledgeConfig, *, now: datetime.datetime) -> int:
    """Queue a crawl of each due source.

    Returns:
        How many crawls this call queued.
    """
    queued = 0
    for source in await store.due_for_refresh(pool, now=now, daily=DAILY, weekly=WEEKLY, limit=BATCH):
        try:
            await queue_crawl_job(pool, source, config, now=now, manual=False)
        except (CrawlRunning, TooManyCrawls) as exc:
            log.info("knowledge_refresh_deferred", source_id=str(source.id), reason=type(exc).__name__)
            continue
        queued += 1
    return queued


class RefreshDue:
    """The handler of `knowledge.refresh` jobs."""

    def __init__(self, pool: asyncpg.Pool, config: KnowledgeConfig, *, clock: Clock = utc_now) -> None:
        self._pool = pool
        self._config = config
        self._clock = clock

    async def __call__(self, job: Job) -> None:
        queued = await queue_due_refreshes(self._pool, self._config, now=self._clock())
        if queued:
            log.info("knowledge_refresh_queued", crawls=queued)
