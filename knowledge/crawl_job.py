"""The `knowledge.crawl` job: crawl one source, publish what it found, record the crawl's counts and skips.

`run_crawl` is the whole job, callable without the runner; `CrawlJob` adapts it to the job
runner's handler interface. Nothing is written before the crawl ends, so a crawl that dies
midway (its runner gone, the job taken back later) leaves the previous version serving.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

import asyncpg
import structlog
from aiohttp.abc import AbstractResolver

from jobs import queue
from jobs.errors import PermanentFailure
from jobs.queue import Job
from jobs.runner import Clock, utc_now
from knowledge import index, store
from knowledge.config import KnowledgeConfig
from knowledge.crawler import Crawl, CrawlReport, CrawlSpec, KnownPage
from knowledge.embedding_job import queue_embedding
from knowledge.errors import KnowledgeLimitReached, UrlNotAllowed
from knowledge.extraction import Extractor
from knowledge.fetcher import Fetcher
from knowledge.pacing import HostPacer
from knowledge.url_guard import guarded_session
from storage.executor import Executor
from storage.transactions import transaction

log = structlog.get_logger(__name__)


@dataclasses.dataclass(frozen=True)
class CrawlContext:
    """What every crawl of this process shares."""

    config: KnowledgeConfig
    extractor: Extractor
    user_agent: str
    resolver: AbstractResolver | None = None
    clock: Clock = utc_now
    # Queue a `knowledge.embed` job for each version published (`[knowledge.embeddings]` on, and the
    # database holds vectors). Queued after the publish commits: a process stopping in between
    # leaves it to the sweep (`knowledge.embedding_job`).
    queue_embeddings: bool = False


def caps_of(config: KnowledgeConfig) -> index.Caps:
    return index.Caps(config.max_pages_per_business, config.max_text_bytes_per_business)


async def _crawl_site(context: CrawlContext, spec: CrawlSpec, known: dict[str, KnownPage]) -> CrawlReport:
    config = context.config
    pacer = HostPacer(config.request_interval_seconds)
    async with guarded_session(config.allowed_private_hosts, connections_per_host=config.connections_per_host,
                               user_agent=context.user_agent, resolver=context.resolver) as session:
        return await Crawl(spec, config, Fetcher(session, config, pacer), pacer, context.extractor, known).run()


def _counts(report: CrawlReport) -> dict[str, int]:
    return {"found": report.found, "fetched": report.fetched, "indexed": len(report.pages),
            "unchanged": len(report.unchanged)}


def _deadline_note(report: CrawlReport) -> str | None:
    if not report.deadline_reached:
        return None
    return f"deadline reached: {len(report.carried)} pages of the previous version kept without fetching them"


async def run_crawl(pool: asyncpg.Pool, crawl_id: uuid.UUID, context: CrawlContext) -> store.CrawlStatus | None:
    """Crawl, publish and record one queued crawl.

    Returns:
        The crawl's final status, or None when there was nothing to do (finished or deleted).
    """
    source = await store.start_crawl(pool, crawl_id, now=context.clock())
    if source is None or source.url is None:
        return None
    bound = log.bind(crawl_id=str(crawl_id), source_id=str(source.id), business_id=str(source.business_id))
    known = await index.known_pages(pool, source)
    pages, _ = await index.usage(pool, source.business_id, excluding=source.id)
    room = max(context.config.max_pages_per_business - pages, 0)
    spec = CrawlSpec(source.url, min(source.max_pages, room), source.max_depth, source.include, source.exclude,
                     source.page_urls)
    try:
        report = await _crawl_site(context, spec, known)
        version = await index.publish(pool, source, report, caps=caps_of(context.config),
                                      language=await index.agent_search_config(pool, source.agent_id),
                                      now=context.clock())
    except (UrlNotAllowed, KnowledgeLimitReached) as exc:
        code = "url_not_allowed" if isinstance(exc, UrlNotAllowed) else "knowledge_limit_reached"
        await store.finish_crawl(pool, crawl_id, "failed", now=context.clock(), error=f"{code}: {exc}")
        bound.info("crawl_failed", error=code)
        return "failed"
    if context.queue_embeddings and version != source.active_version:
        await queue_embedding(pool, source.id, source.business_id, version, now=context.clock())
    skipped = [{"url": s.url, "reason": s.reason} for s in report.skipped]
    await store.finish_crawl(pool, crawl_id, "completed", now=context.clock(), counts=_counts(report),
                             skipped=skipped, error=_deadline_note(report))
    bound.info("crawl_completed", **_counts(report), skipped=len(skipped), deadline=report.deadline_reached)
    return "completed"


class CrawlJob:
    """The handler of `knowledge.crawl` jobs (payload `{"crawlId": ...}`)."""

    def __init__(self, pool: asyncpg.Pool, context: CrawlContext) -> None:
        self._pool = pool
        self._context = context

    async def __call__(self, job: Job) -> None:
        crawl_id = uuid.UUID(str(job.payload["crawlId"]))
        try:
            await run_crawl(self._pool, crawl_id, self._context)
        except Exception as exc:
            if job.last_attempt:
                await store.finish_crawl(self._pool, crawl_id, "failed", now=self._context.clock(),
                                         error=f"{type(exc).__name__}: {exc}")
                raise PermanentFailure(str(exc)) from exc
            raise


def job_payload(crawl_id: uuid.UUID) -> dict[str, str]:
    return {"crawlId": str(crawl_id)}


def sync_cooldown(config: KnowledgeConfig) -> datetime.timedelta:
    return datetime.timedelta(seconds=config.sync_cooldown_seconds)


async def queue_crawl_job(db: Executor, source: store.Source, config: KnowledgeConfig, *, now: datetime.datetime,
                          manual: bool) -> uuid.UUID:
    """A queued crawl of `source` and its `knowledge.crawl` job, in one transaction (one never without the other).

    Raises:
        CrawlRunning: the source has a crawl queued or running.
        SyncTooSoon: a manual sync within the cool-down of the last one.
        TooManyCrawls: the business has as many crawls queued or running as it may.
    """
    async with transaction(db) as conn:
        crawl_id = await store.queue_crawl(conn, source, max_running=config.max_running_crawls_per_business,
                                           now=now, manual_cooldown=sync_cooldown(config) if manual else None)
        await queue.enqueue(conn, store.CRAWL_KIND, job_payload(crawl_id), now=now, business_id=source.business_id,
                            dedupe_key=f"crawl:{crawl_id}")
    return crawl_id


async def discover(config: KnowledgeConfig, user_agent: str, url: str, *, limit: int) -> list[str]:
    """Candidate pages of a website for the dashboard to choose from (a few requests, nothing indexed).

    Raises:
        UrlNotAllowed: the URL is not one the crawler may reach.
    """
    pacer = HostPacer(config.request_interval_seconds)
    async with guarded_session(config.allowed_private_hosts, connections_per_host=config.connections_per_host,
                               user_agent=user_agent) as session:
        crawl = Crawl(CrawlSpec(url, limit, 1), config, Fetcher(session, config, pacer), pacer, None, {})
        return await crawl.discover(limit)
