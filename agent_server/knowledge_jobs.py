"""The shell's side of the knowledge base's jobs: `knowledge.crawl` with its extraction processes, and `knowledge.refresh`.

The runner (`agent_server/job_runner.py`) holds these handlers for its lifetime; the
extraction pool is started on the first crawl and stopped with the runner, so a web process
that never crawls never starts one. `knowledge.refresh` recurs (`RECURRING`) and queues the
crawls of sources whose daily or weekly refresh is due.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import version

import asyncpg

from agent_server.config import Settings
from jobs.runner import Clock, Handler, Recurring, utc_now
from jobs.schedule import Schedule
from knowledge.crawl_job import CrawlContext, CrawlJob
from knowledge.extraction import Extractor
from knowledge.refresh import REFRESH_KIND, REFRESH_SCHEDULE, RefreshDue
from knowledge.robots import user_agent
from knowledge.store import CRAWL_KIND

RECURRING: tuple[Recurring, ...] = (Recurring(REFRESH_KIND, Schedule.parse(REFRESH_SCHEDULE)),)


@contextlib.asynccontextmanager
async def handlers(settings: Settings, pool: asyncpg.Pool, *,
                   clock: Clock = utc_now) -> AsyncIterator[dict[str, Handler]]:
    extractor = Extractor(settings.knowledge.extraction_workers)
    context = CrawlContext(settings.knowledge, extractor, user_agent(version("agent-server"),
                                                                      settings.server.public_url), clock=clock)
    try:
        yield {CRAWL_KIND: CrawlJob(pool, context), REFRESH_KIND: RefreshDue(pool, settings.knowledge, clock=clock)}
    finally:
        extractor.close()
