"""A crawl job end to end on the database: published as one version, searched, refreshed, capped, isolated."""

from __future__ import annotations

import datetime
import uuid

import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from agent_server import agents
from knowledge import index, store
from knowledge.crawl_job import CrawlContext, run_crawl
from knowledge.extraction import Extractor
from storage.transactions import transaction
from tests.conftest import MakeBusiness
from tests.fake_website import FakeWebsite
from tests.knowledge.crawling import TEST_CONFIG, with_config

NOW = datetime.datetime(2026, 1, 5, 12, tzinfo=datetime.UTC)


async def _website_source(pool: asyncpg.Pool, business_id: uuid.UUID, url: str,
                          **fields: object) -> tuple[store.Source, uuid.UUID]:
    agent_id = await agents.create_agent(pool, business_id, "Helper")
    source = await store.create_source(pool, business_id=business_id, agent_id=agent_id, kind="website", url=url,
                                       **fields)  # type: ignore[arg-type]
    async with transaction(pool) as conn:
        crawl_id = await store.queue_crawl(conn, source, max_running=3, now=NOW)
    return source, crawl_id


async def _again(pool: asyncpg.Pool, source: store.Source) -> uuid.UUID:
    async with transaction(pool) as conn:
        return await store.queue_crawl(conn, source, max_running=3, now=NOW)


def _context(extractor: Extractor, **config: object) -> CrawlContext:
    return CrawlContext(with_config(**config) if config else TEST_CONFIG, extractor, "AgentServerBot/test")


async def test_crawl_publishes_pages_and_search_finds_them(pool: asyncpg.Pool, make_business: MakeBusiness,
                                                           site_server: TestServer, website: FakeWebsite,
                                                           extractor: Extractor) -> None:
    tenant = await make_business()
    source, crawl_id = await _website_source(pool, tenant.business_id, str(site_server.make_url("/")))
    assert await run_crawl(pool, crawl_id, _context(extractor)) == "completed"
    crawl = await store.get_crawl(pool, crawl_id, source.agent_id)
    assert crawl is not None and crawl.status == "completed"
    assert crawl.indexed == len(website.allowed_paths())
    assert {"url": str(site_server.make_url("/private/staff")), "reason": "disallowed by robots.txt"} in crawl.skipped
    hits = await index.search(pool, source.agent_id, "when are you open on saturday?", language="english", limit=4)
    assert hits and hits[0].url is not None and hits[0].url.endswith("/opening-hours")
    assert (await store.get_source(pool, source.id, source.agent_id)).active_version == 1  # type: ignore[union-attr]


async def test_all_304_refresh_writes_nothing_and_an_edit_is_reindexed(
        pool: asyncpg.Pool, make_business: MakeBusiness, site_server: TestServer, website: FakeWebsite,
        extractor: Extractor) -> None:
    tenant = await make_business()
    source, crawl_id = await _website_source(pool, tenant.business_id, str(site_server.make_url("/")))
    await run_crawl(pool, crawl_id, _context(extractor))
    chunk_ids = await pool.fetch("SELECT id, version FROM kb_chunks ORDER BY id")
    second = await _again(pool, source)
    assert await run_crawl(pool, second, _context(extractor)) == "completed"
    assert await pool.fetch("SELECT id, version FROM kb_chunks ORDER BY id") == chunk_ids
    crawl = await store.get_crawl(pool, second, source.agent_id)
    assert crawl is not None and crawl.indexed == 0 and crawl.unchanged == len(website.allowed_paths())

    website.pages["/pricing"] = website.pages["/pricing"].replace("49 euros", "59 euros")
    del website.pages["/warranty"]
    await run_crawl(pool, await _again(pool, source), _context(extractor))
    hits = await index.search(pool, source.agent_id, "service price 59 euros", language="english", limit=4)
    assert hits[0].url is not None and hits[0].url.endswith("/pricing") and "59 euros" in hits[0].content
    assert not await index.search(pool, source.agent_id, "five year warranty frame", language="english", limit=4) \
        or all(not (h.url or "").endswith("/warranty") for h in
               await index.search(pool, source.agent_id, "five year warranty frame", language="english", limit=4))
    versions = await pool.fetch("SELECT DISTINCT version FROM kb_pages WHERE source_id = $1", source.id)
    assert [r["version"] for r in versions] == [2]


async def test_a_crawl_that_dies_midway_leaves_the_previous_version(
        pool: asyncpg.Pool, make_business: MakeBusiness, site_server: TestServer, website: FakeWebsite,
        extractor: Extractor) -> None:
    tenant = await make_business()
    source, crawl_id = await _website_source(pool, tenant.business_id, str(site_server.make_url("/")))
    await run_crawl(pool, crawl_id, _context(extractor))
    website.pages["/pricing"] = website.pages["/pricing"].replace("49 euros", "99 euros")

    class Dies(Extractor):
        async def extract(self, *args: object, **kwargs: object) -> object:  # type: ignore[override]
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError):
        await run_crawl(pool, await _again(pool, source), _context(Dies(workers=1)))
    hits = await index.search(pool, source.agent_id, "standard service costs euros", language="english", limit=4)
    assert any("49 euros" in h.content for h in hits) and not any("99 euros" in h.content for h in hits)


async def test_business_cap_fails_the_crawl_with_knowledge_limit_reached(
        pool: asyncpg.Pool, make_business: MakeBusiness, site_server: TestServer, extractor: Extractor) -> None:
    tenant = await make_business()
    source, crawl_id = await _website_source(pool, tenant.business_id, str(site_server.make_url("/")))
    assert await run_crawl(pool, crawl_id, _context(extractor, max_text_bytes_per_business=2_000)) == "failed"
    crawl = await store.get_crawl(pool, crawl_id, source.agent_id)
    assert crawl is not None and (crawl.error or "").startswith("knowledge_limit_reached")
    assert await pool.fetchval("SELECT count(*) FROM kb_chunks") == 0


async def test_one_business_never_retrieves_anothers_chunks(
        pool: asyncpg.Pool, make_business: MakeBusiness, site_server: TestServer, extractor: Extractor) -> None:
    a, b = await make_business("A"), await make_business("B")
    source, crawl_id = await _website_source(pool, a.business_id, str(site_server.make_url("/")), max_pages=5)
    await run_crawl(pool, crawl_id, _context(extractor))
    other = await agents.create_agent(pool, b.business_id, "Other")
    assert await index.search(pool, other, "bicycle workshop", language="english", limit=4) == []
    assert await store.get_crawl(pool, crawl_id, other) is None
    assert await store.get_source(pool, source.id, other) is None


async def test_the_deadline_ends_a_refresh_cleanly_and_the_previous_pages_keep_serving(
        pool: asyncpg.Pool, make_business: MakeBusiness, site_server: TestServer, website: FakeWebsite,
        extractor: Extractor) -> None:
    tenant = await make_business()
    source, crawl_id = await _website_source(pool, tenant.business_id, str(site_server.make_url("/")))
    await run_crawl(pool, crawl_id, _context(extractor))
    all_pages = len(website.allowed_paths())
    website.crawl_delay = 0.05  # robots.txt's Crawl-delay: about 6 requests before a 0.3 s deadline
    website.pages["/pricing"] = website.pages["/pricing"].replace("49 euros", "59 euros")

    second = await _again(pool, source)
    assert await run_crawl(pool, second, _context(extractor, crawl_deadline_seconds=0.3)) == "completed"
    crawl = await store.get_crawl(pool, second, source.agent_id)
    assert crawl is not None and crawl.status == "completed" and crawl.finished_at is not None
    assert (crawl.error or "").startswith("deadline reached")
    assert crawl.fetched < all_pages and crawl.indexed + crawl.unchanged <= crawl.fetched
    # Every page of the previous version is still there: refreshed, unchanged, or kept unvisited.
    active = await store.get_source(pool, source.id, source.agent_id)
    assert active is not None
    assert await pool.fetchval("SELECT count(*) FROM kb_pages WHERE source_id = $1 AND version = $2",
                               source.id, active.active_version) == all_pages
    hits = await index.search(pool, source.agent_id, "five year warranty frame", language="english", limit=4)
    assert hits and (hits[0].url or "").endswith("/warranty")


async def test_the_deadline_ends_a_first_crawl_with_what_it_fetched(
        pool: asyncpg.Pool, make_business: MakeBusiness, site_server: TestServer, website: FakeWebsite,
        extractor: Extractor) -> None:
    tenant = await make_business()
    website.crawl_delay = 0.05
    source, crawl_id = await _website_source(pool, tenant.business_id, str(site_server.make_url("/")))
    assert await run_crawl(pool, crawl_id, _context(extractor, crawl_deadline_seconds=0.3)) == "completed"
    crawl = await store.get_crawl(pool, crawl_id, source.agent_id)
    assert crawl is not None and crawl.status == "completed"
    assert (crawl.error or "").startswith("deadline reached")
    assert crawl.fetched < len(website.allowed_paths())
    assert await pool.fetchval("SELECT count(*) FROM kb_pages WHERE source_id = $1", source.id) == crawl.indexed
    # Nothing was asked for after the deadline passed.
    assert len(website.access_log) <= crawl.fetched + len(crawl.skipped) + 4
