"""Each agent's knowledge is indexed and searched in its own language's text-search configuration."""

from __future__ import annotations

import datetime

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from agent_server import agents
from knowledge import store
from knowledge.crawl_job import CrawlContext, run_crawl
from knowledge.extraction import Extractor
from knowledge.languages import search_config
from storage.transactions import transaction
from tests.conftest import MakeBusiness
from tests.knowledge.crawling import TEST_CONFIG

Client = TestClient[web.Request, web.Application]
FRENCH = "La réparation de votre vélo est garantie six mois. Nous changeons les pneus crevés."


def test_a_language_tag_picks_its_stemmer_else_simple() -> None:
    assert [search_config(t) for t in ("en-US", "fr-FR", "de", "pt_BR", "nb-NO", "ES-mx")] == [
        "english", "french", "german", "portuguese", "norwegian", "spanish"]
    assert [search_config(t) for t in ("ja-JP", "zh-Hans-CN", "", "x")] == ["simple"] * 4


async def _text_source(client: Client, headers: object, agent: str) -> list[dict[str, object]]:
    resp = await client.post(f"/api/agents/{agent}/knowledge/sources", headers=headers,  # type: ignore[arg-type]
                             json={"type": "text", "title": "Atelier", "content": FRENCH})
    assert resp.status == 201, await resp.text()
    found = await client.get(f"/api/agents/{agent}/knowledge/search", params={"q": "réparer mon vélo garanti"},
                             headers=headers)  # type: ignore[arg-type]
    results: list[dict[str, object]] = (await found.json())["results"]
    return results


async def test_a_french_agents_chunks_are_stemmed_in_french(app_client: Client, pool: asyncpg.Pool,
                                                            make_business: MakeBusiness) -> None:
    tenant = await make_business()
    french = await agents.create_agent(pool, tenant.business_id, "Atelier", language="fr-FR")
    english = await agents.create_agent(pool, tenant.business_id, "Workshop", language="en-US")

    hits = await _text_source(app_client, tenant.headers, str(french))
    assert hits and hits[0]["title"] == "Atelier"  # "réparer" finds "réparation", "garanti" finds "garantie"
    row = await pool.fetchrow("SELECT language::text, tsv::text FROM kb_chunks WHERE agent_id = $1", french)
    assert row is not None and row["language"] == "french"
    assert "'répar'" in row["tsv"] and "'garant'" in row["tsv"] and "'nous'" not in row["tsv"]

    await _text_source(app_client, tenant.headers, str(english))
    row = await pool.fetchrow("SELECT language::text, tsv::text FROM kb_chunks WHERE agent_id = $1", english)
    assert row is not None and row["language"] == "english"
    assert "'réparat'" in row["tsv"] and "'nous'" in row["tsv"]


async def test_a_crawl_indexes_in_the_agents_language(pool: asyncpg.Pool, make_business: MakeBusiness,
                                                      site_server: TestServer, extractor: Extractor) -> None:
    tenant = await make_business()
    now = datetime.datetime.now(datetime.UTC)
    for language, config in (("de-DE", "german"), ("ja-JP", "simple")):
        agent_id = await agents.create_agent(pool, tenant.business_id, "Helfer", language=language)
        source = await store.create_source(pool, business_id=tenant.business_id, agent_id=agent_id, kind="website",
                                           url=str(site_server.make_url("/")), max_pages=2)
        async with transaction(pool) as conn:
            crawl_id = await store.queue_crawl(conn, source, max_running=3, now=now)
        assert await run_crawl(pool, crawl_id, CrawlContext(TEST_CONFIG, extractor, "AgentServerBot/test")) \
            == "completed"
        languages = await pool.fetch("SELECT DISTINCT language::text FROM kb_chunks WHERE agent_id = $1", agent_id)
        assert [r["language"] for r in languages] == [config]
