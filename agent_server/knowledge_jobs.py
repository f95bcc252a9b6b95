"""The shell's side of the knowledge base's jobs: crawls with their extraction processes, refreshes, embeddings.

The runner (`agent_server/job_runner.py`) holds these handlers for its lifetime; the
extraction pool is started on the first crawl and stopped with the runner, so a web process
that never crawls never starts one. `knowledge.refresh` recurs and queues the crawls of
sources whose daily or weekly refresh is due. With `[knowledge.embeddings]` on (and a
database holding vectors: `agent_server/knowledge_embeddings.py`), each crawl queues
`knowledge.embed` for the version it published, and `knowledge.embed_sweep` recurs to queue
what was missed; their HTTP session lives as long as the runner.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from importlib.metadata import version

import aiohttp
import asyncpg

from agent_server.config import Settings
from agent_server.knowledge_embeddings import embedder_for
from jobs.runner import Clock, Handler, Recurring, utc_now
from jobs.schedule import Schedule
from knowledge.crawl_job import CrawlContext, CrawlJob
from knowledge.embedding_job import EMBED_KIND, SWEEP_KIND, SWEEP_SCHEDULE, EmbedJob, EmbedSweep
from knowledge.embeddings import OpenAiEmbeddings
from knowledge.extraction import Extractor
from knowledge.refresh import REFRESH_KIND, REFRESH_SCHEDULE, RefreshDue
from knowledge.robots import user_agent
from knowledge.store import CRAWL_KIND

# Always recurring; the sweep only where embeddings are on (`recurring`).
RECURRING: tuple[Recurring, ...] = (Recurring(REFRESH_KIND, Schedule.parse(REFRESH_SCHEDULE)),)


def recurring(handlers: Mapping[str, Handler]) -> tuple[Recurring, ...]:
    """The recurring kinds of these handlers: the refresh, and the embeddings' sweep where they are on."""
    if SWEEP_KIND not in handlers:
        return RECURRING
    return (*RECURRING, Recurring(SWEEP_KIND, Schedule.parse(SWEEP_SCHEDULE)))


@contextlib.asynccontextmanager
async def handlers(settings: Settings, pool: asyncpg.Pool, *,
                   clock: Clock = utc_now) -> AsyncIterator[dict[str, Handler]]:
    extractor = Extractor(settings.knowledge.extraction_workers)
    try:
        async with contextlib.AsyncExitStack() as stack:
            embedder: OpenAiEmbeddings | None = None
            if settings.knowledge.embeddings.model:
                session = await stack.enter_async_context(
                    aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=5)))
                embedder = await embedder_for(settings, pool, session)
            context = CrawlContext(settings.knowledge, extractor,
                                   user_agent(version("agent-server"), settings.server.public_url), clock=clock,
                                   queue_embeddings=embedder is not None)
            found: dict[str, Handler] = {CRAWL_KIND: CrawlJob(pool, context),
                                         REFRESH_KIND: RefreshDue(pool, settings.knowledge, clock=clock)}
            if embedder is not None:
                found[EMBED_KIND] = EmbedJob(pool, embedder, settings.knowledge.embeddings)
                found[SWEEP_KIND] = EmbedSweep(pool, embedder.model, clock=clock)
            yield found
    finally:
        extractor.close()
