"""The shell's side of the knowledge crawl: the `knowledge.crawl` handler with its extraction processes.

The runner (`agent_server/job_runner.py`) holds these handlers for its lifetime; the
extraction pool is started on the first crawl and stopped with the runner, so a web process
that never crawls never starts one.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from importlib.metadata import version

import asyncpg

from agent_server.config import Settings
from jobs.runner import Handler
from knowledge.crawl_job import CrawlContext, CrawlJob
from knowledge.extraction import Extractor
from knowledge.robots import user_agent
from knowledge.store import CRAWL_KIND


@contextlib.asynccontextmanager
async def handlers(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[dict[str, Handler]]:
    extractor = Extractor(settings.knowledge.extraction_workers)
    context = CrawlContext(settings.knowledge, extractor, user_agent(version("agent-server"),
                                                                      settings.server.public_url))
    try:
        yield {CRAWL_KIND: CrawlJob(pool, context)}
    finally:
        extractor.close()
