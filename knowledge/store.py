"""The `kb_sources` and `kb_crawls` tables: sources of an agent's knowledge and the crawls that fill them."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Literal

import asyncpg

from knowledge.errors import CrawlRunning, SyncTooSoon, TooManyCrawls
from storage.executor import Connection, Executor

SourceKind = Literal["website", "text"]
CrawlStatus = Literal["queued", "running", "completed", "failed", "canceled"]
CRAWL_KIND = "knowledge.crawl"


@dataclasses.dataclass(frozen=True)
class Source:
    id: uuid.UUID
    business_id: uuid.UUID
    agent_id: uuid.UUID
    kind: SourceKind
    url: str | None
    title: str
    max_pages: int
    max_depth: int
    include: tuple[str, ...]
    exclude: tuple[str, ...]
    refresh: str
    active_version: int
    last_manual_sync_at: datetime.datetime | None
    created_at: datetime.datetime
    # The exact pages to crawl (no links followed); empty: the whole site.
    page_urls: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class CrawlRecord:
    id: uuid.UUID
    source_id: uuid.UUID
    business_id: uuid.UUID
    status: CrawlStatus
    found: int
    fetched: int
    indexed: int
    unchanged: int
    skipped: list[dict[str, str]]
    error: str | None
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None


_SOURCE = ("id, business_id, agent_id, kind, url, title, max_pages, max_depth, include, exclude, refresh,"
           " active_version, last_manual_sync_at, created_at, page_urls")
_CRAWL = ("id, source_id, business_id, status, found, fetched, indexed, unchanged, skipped, error, created_at,"
          " started_at, finished_at")


def _source(row: asyncpg.Record) -> Source:
    values = dict(row)
    for field in ("include", "exclude", "page_urls"):
        values[field] = tuple(values[field])
    return Source(**values)


def _crawl(row: asyncpg.Record) -> CrawlRecord:
    return CrawlRecord(**dict(row))


async def create_source(db: Executor, *, business_id: uuid.UUID, agent_id: uuid.UUID, kind: SourceKind,
                        url: str | None = None, title: str = "", max_pages: int = 100, max_depth: int = 5,
                        include: tuple[str, ...] = (), exclude: tuple[str, ...] = (),
                        refresh: str = "never", page_urls: tuple[str, ...] = ()) -> Source:
    row = await db.fetchrow(
        "INSERT INTO kb_sources (business_id, agent_id, kind, url, title, max_pages, max_depth, include, exclude,"
        f" refresh, page_urls) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING {_SOURCE}",
        business_id, agent_id, kind, url, title, max_pages, max_depth, list(include), list(exclude), refresh,
        list(page_urls))
    assert row is not None
    return _source(row)


async def get_source(db: Executor, source_id: uuid.UUID, agent_id: uuid.UUID) -> Source | None:
    row = await db.fetchrow(f"SELECT {_SOURCE} FROM kb_sources WHERE id = $1 AND agent_id = $2",
                            source_id, agent_id)
    return None if row is None else _source(row)


async def sources_of(db: Executor, agent_id: uuid.UUID) -> list[Source]:
    rows = await db.fetch(f"SELECT {_SOURCE} FROM kb_sources WHERE agent_id = $1 ORDER BY created_at, id",
                          agent_id)
    return [_source(r) for r in rows]


async def delete_source(db: Executor, source_id: uuid.UUID, agent_id: uuid.UUID) -> bool:
    """Delete the source with its crawls, pages and chunks (cascade)."""
    return bool(await db.fetchval("DELETE FROM kb_sources WHERE id = $1 AND agent_id = $2 RETURNING true",
                                  source_id, agent_id))


async def queue_crawl(conn: Connection, source: Source, *, max_running: int, now: datetime.datetime,
                      manual_cooldown: datetime.timedelta | None = None) -> uuid.UUID:
    """A new queued crawl of `source`, in the caller's transaction (which enqueues its job too).

    The source's row is locked first, so two syncs at once cannot both pass the checks.

    Raises:
        CrawlRunning: the source has a crawl queued or running.
        SyncTooSoon: a manual sync (`manual_cooldown` given) within the cool-down of the last one.
        TooManyCrawls: the business has `max_running` crawls queued or running.
    """
    last_sync = await conn.fetchval("SELECT last_manual_sync_at FROM kb_sources WHERE id = $1 FOR UPDATE",
                                    source.id)
    if await conn.fetchval("SELECT EXISTS (SELECT 1 FROM kb_crawls WHERE source_id = $1"
                           " AND status IN ('queued', 'running'))", source.id):
        raise CrawlRunning("a crawl of this source is already queued or running")
    if manual_cooldown is not None:
        if last_sync is not None and now - last_sync < manual_cooldown:
            raise SyncTooSoon(f"a source may be synced once every {int(manual_cooldown.total_seconds() // 60)} min")
        await conn.execute("UPDATE kb_sources SET last_manual_sync_at = $2 WHERE id = $1", source.id, now)
    running = await conn.fetchval("SELECT count(*) FROM kb_crawls WHERE business_id = $1"
                                  " AND status IN ('queued', 'running')", source.business_id)
    if running >= max_running:
        raise TooManyCrawls(f"at most {max_running} crawls may run at once for a business")
    crawl_id: uuid.UUID = await conn.fetchval(
        "INSERT INTO kb_crawls (source_id, business_id, created_at) VALUES ($1, $2, $3) RETURNING id",
        source.id, source.business_id, now)
    return crawl_id


async def get_crawl(db: Executor, crawl_id: uuid.UUID, agent_id: uuid.UUID) -> CrawlRecord | None:
    row = await db.fetchrow(
        f"SELECT {', '.join('c.' + c.strip() for c in _CRAWL.split(','))} FROM kb_crawls c"
        " JOIN kb_sources s ON s.id = c.source_id WHERE c.id = $1 AND s.agent_id = $2", crawl_id, agent_id)
    return None if row is None else _crawl(row)


async def start_crawl(db: Executor, crawl_id: uuid.UUID, *, now: datetime.datetime) -> Source | None:
    """Mark the crawl running and return its source; None when it is finished or gone (nothing to do).

    A crawl already `running` is started again: its runner died, and nothing it did was written.
    """
    source_id = await db.fetchval(
        "UPDATE kb_crawls SET status = 'running', started_at = $2 WHERE id = $1"
        " AND status IN ('queued', 'running') RETURNING source_id", crawl_id, now)
    if source_id is None:
        return None
    row = await db.fetchrow(f"SELECT {_SOURCE} FROM kb_sources WHERE id = $1", source_id)
    return None if row is None else _source(row)


async def finish_crawl(db: Executor, crawl_id: uuid.UUID, status: CrawlStatus, *, now: datetime.datetime,
                       counts: dict[str, int] | None = None, skipped: list[dict[str, str]] | None = None,
                       error: str | None = None) -> None:
    counts = counts or {}
    await db.execute(
        "UPDATE kb_crawls SET status = $2, finished_at = $3, found = $4, fetched = $5, indexed = $6,"
        " unchanged = $7, skipped = $8, error = $9 WHERE id = $1",
        crawl_id, status, now, counts.get("found", 0), counts.get("fetched", 0), counts.get("indexed", 0),
        counts.get("unchanged", 0), skipped or [], error)




async def due_for_refresh(db: Executor, *, now: datetime.datetime, daily: datetime.timedelta,
                          weekly: datetime.timedelta, limit: int) -> list[Source]:
    """Website sources whose refresh period has passed since their last crawl, none queued or running, oldest first."""
    rows = await db.fetch(
        f"SELECT {_SOURCE} FROM kb_sources s"
        " LEFT JOIN LATERAL (SELECT max(created_at) AS last FROM kb_crawls c WHERE c.source_id = s.id) l ON true"
        " WHERE s.kind = 'website' AND s.refresh IN ('daily', 'weekly')"
        " AND coalesce(l.last, s.created_at) <= $1::timestamptz - CASE s.refresh WHEN 'daily' THEN $2::interval"
        "                                                         ELSE $3::interval END"
        " AND NOT EXISTS (SELECT 1 FROM kb_crawls c WHERE c.source_id = s.id AND c.status IN ('queued', 'running'))"
        " ORDER BY coalesce(l.last, s.created_at), s.id LIMIT $4", now, daily, weekly, limit)
    return [_source(r) for r in rows]


async def has_sources(db: Executor, agent_id: uuid.UUID) -> bool:
    """Whether the agent has any knowledge source (a call without one skips the search on every turn)."""
    return bool(await db.fetchval("SELECT EXISTS (SELECT 1 FROM kb_sources WHERE agent_id = $1)", agent_id))
