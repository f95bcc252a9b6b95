"""Retrieval quality with embeddings: the 40 help-centre questions, full-text search against hybrid (fused with vectors).

The same crawl as `test_retrieval_quality.py`, then its chunks embedded through the OpenAI fake
(deterministic hashed bag-of-words vectors, function words left out): a crude stand-in for a
model, enough to show that the fusion costs nothing where full text finds the article. A
question counts as a hit when one of the top 4 chunks comes from its article. Measured: full
text 95 %, hybrid 95 % (vectors alone 80 %); with function words counted, the fake's nearest
chunks share "what", "do", "the" with the question and hybrid fell to 92.5 %.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from yarl import URL

from agent_server import agents
from knowledge import hybrid, index, store
from knowledge.config import EmbeddingsConfig
from knowledge.crawl_job import CrawlContext, run_crawl
from knowledge.embedding_job import embed_source
from knowledge.embeddings import OpenAiEmbeddings
from knowledge.extraction import Extractor
from storage.transactions import transaction
from tests.conftest import MakeBusiness
from tests.knowledge import help_centre
from tests.knowledge.conftest import EMBEDDING_MODEL
from tests.knowledge.crawling import TEST_CONFIG
from tests.knowledge.test_retrieval_quality import QUESTIONS, REQUIRED_HIT_RATE, TOP

Search = Callable[[str], Awaitable[list[index.Hit]]]


@pytest.fixture
async def help_site() -> AsyncIterator[TestServer]:
    async for server in help_centre.serve():
        yield server


async def _crawled(pool: asyncpg.Pool, business_id: uuid.UUID, site: TestServer,
                   extractor: Extractor) -> store.Source:
    agent_id = await agents.create_agent(pool, business_id, "Support", language="en-GB")
    source = await store.create_source(pool, business_id=business_id, agent_id=agent_id, kind="website",
                                       url=str(site.make_url("/")))
    async with transaction(pool) as conn:
        crawl_id = await store.queue_crawl(conn, source, max_running=3, now=datetime.datetime.now(datetime.UTC))
    assert await run_crawl(pool, crawl_id, CrawlContext(TEST_CONFIG, extractor, "AgentServerBot/test")) == "completed"
    return source


async def _hit_rate(search: Search) -> tuple[float, list[str]]:
    misses = []
    for question, answer in QUESTIONS:
        found = [URL(h.url or "").path for h in await search(question)]
        if answer not in found:
            misses.append(f"{question!r} -> {answer} not in {found}")
    return 1 - len(misses) / len(QUESTIONS), misses


async def test_hybrid_top_4_finds_the_answering_article_at_least_as_often_as_full_text(
        pool: asyncpg.Pool, make_business: MakeBusiness, help_site: TestServer, extractor: Extractor,
        embedder: OpenAiEmbeddings) -> None:
    source = await _crawled(pool, (await make_business()).business_id, help_site, extractor)
    embedded = await embed_source(pool, source.id, embedder, EmbeddingsConfig(model=EMBEDDING_MODEL))
    assert embedded == await pool.fetchval("SELECT count(*) FROM kb_chunks WHERE source_id = $1", source.id)

    async def full_text(question: str) -> list[index.Hit]:
        return await index.search(pool, source.agent_id, question, language="english", limit=TOP)

    async def fused(question: str) -> list[index.Hit]:
        return await hybrid.search(pool, source.agent_id, question, language="english", limit=TOP,
                                   embedder=embedder, timeout=5)

    fts_rate, fts_misses = await _hit_rate(full_text)
    hybrid_rate, hybrid_misses = await _hit_rate(fused)
    print(f"top-{TOP} hit rate over {len(QUESTIONS)} questions: full text {fts_rate:.1%}, hybrid {hybrid_rate:.1%}")
    assert fts_rate >= REQUIRED_HIT_RATE, "full-text misses:\n" + "\n".join(fts_misses)
    assert hybrid_rate >= fts_rate, (f"hybrid {hybrid_rate:.0%} < full text {fts_rate:.0%}; misses:\n"
                                     + "\n".join(hybrid_misses))
