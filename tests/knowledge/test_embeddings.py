"""Optional embeddings, ingestion side: the `knowledge.embed` job after a publish, its retry, the switch and its absence."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from pathlib import Path

import asyncpg
import pytest
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from agent_server import agents, knowledge_jobs
from agent_server.config import ConfigError, Settings, load_settings
from agent_server.knowledge_embeddings import EMBEDDER
from jobs.config import JobsConfig
from jobs.runner import Runner
from knowledge import store
from knowledge.config import EmbeddingsConfig
from knowledge.crawl_job import queue_crawl_job
from knowledge.embedding_job import EMBED_KIND, SWEEP_KIND
from knowledge.embeddings import OpenAiEmbeddings
from knowledge.grounding import Grounding
from knowledge.refresh import REFRESH_KIND
from knowledge.store import CRAWL_KIND
from tests.conftest import MakeBusiness, MakeClient, MakeSettings
from tests.fake_openai import FakeOpenAi
from tests.jobs.clock import ManualClock
from tests.knowledge.conftest import EMBEDDING_MODEL
from tests.knowledge.crawling import TEST_CONFIG

T0 = datetime.datetime(2026, 3, 2, 9, tzinfo=datetime.UTC)
ROOT_CONFIG = Path(__file__).resolve().parents[2] / "config.toml"


def _settings(make_settings: MakeSettings, fake: FakeOpenAi, **embeddings: object) -> Settings:
    """Embeddings on, from the OpenAI fake (the LLM's base URL and key), the crawler allowed on 127.0.0.1."""
    base = make_settings(OPENAI_BASE_URL=fake.base_url, OPENAI_API_KEY="test-key")
    config = EmbeddingsConfig(model=EMBEDDING_MODEL, **embeddings)  # type: ignore[arg-type]
    return dataclasses.replace(base, knowledge=dataclasses.replace(TEST_CONFIG, embeddings=config))


async def _website(pool: asyncpg.Pool, business_id: uuid.UUID, url: str) -> store.Source:
    agent_id = await agents.create_agent(pool, business_id, "Helper")
    return await store.create_source(pool, business_id=business_id, agent_id=agent_id, kind="website", url=url)


async def _embed_jobs(pool: asyncpg.Pool) -> list[tuple[str, str, int]]:
    rows = await pool.fetch("SELECT status, dedupe_key, attempts FROM jobs WHERE kind = $1 ORDER BY id", EMBED_KIND)
    return [(r["status"], r["dedupe_key"], r["attempts"]) for r in rows]


async def _counts(pool: asyncpg.Pool, source: store.Source) -> tuple[int, int]:
    """The source's chunks, and how many have a vector."""
    row = await pool.fetchrow("SELECT count(*) AS chunks, count(e.chunk_id) AS vectors FROM kb_chunks c"
                              " LEFT JOIN kb_embeddings e ON e.chunk_id = c.id WHERE c.source_id = $1", source.id)
    assert row is not None
    return int(row["chunks"]), int(row["vectors"])


async def test_a_published_crawl_is_embedded_in_batches_by_the_embed_job(
        pool: asyncpg.Pool, make_business: MakeBusiness, make_settings: MakeSettings, fake_openai: FakeOpenAi,
        site_server: TestServer) -> None:
    settings = _settings(make_settings, fake_openai, batch_size=3)
    source = await _website(pool, (await make_business()).business_id, str(site_server.make_url("/")))
    clock = ManualClock(T0)
    async with knowledge_jobs.handlers(settings, pool, clock=clock) as found:
        runner = Runner(pool, found, JobsConfig(), recurring=knowledge_jobs.recurring(found), clock=clock)
        await queue_crawl_job(pool, source, settings.knowledge, now=clock(), manual=False)
        await runner.run_once()
        assert await _embed_jobs(pool) == [("queued", f"embed:{source.id}:1", 0)]
        await runner.run_once()
    assert await _embed_jobs(pool) == [("succeeded", f"embed:{source.id}:1", 1)]
    chunks, embedded = await _counts(pool, source)
    assert chunks > 3 and embedded == chunks
    rows = await pool.fetch("SELECT DISTINCT agent_id, model, vector_dims(embedding) AS dims FROM kb_embeddings")
    assert [tuple(r) for r in rows] == [(source.agent_id, EMBEDDING_MODEL, 256)]
    requests = fake_openai.state.embedding_requests
    assert all(r["model"] == EMBEDDING_MODEL and 1 <= len(r["input"]) <= 3 for r in requests)
    assert sum(len(r["input"]) for r in requests) == chunks
    assert fake_openai.state.authorizations[-1] == "Bearer test-key"


async def test_a_failing_embeddings_server_never_fails_the_crawl_and_the_retry_fills_the_vectors(
        pool: asyncpg.Pool, make_business: MakeBusiness, make_settings: MakeSettings, fake_openai: FakeOpenAi,
        site_server: TestServer, embedder: OpenAiEmbeddings) -> None:
    settings = _settings(make_settings, fake_openai)
    source = await _website(pool, (await make_business()).business_id, str(site_server.make_url("/")))
    fake_openai.state.options.embeddings_status = 500
    clock = ManualClock(T0)
    async with knowledge_jobs.handlers(settings, pool, clock=clock) as found:
        runner = Runner(pool, found, JobsConfig(), recurring=knowledge_jobs.recurring(found), clock=clock)
        crawl_id = await queue_crawl_job(pool, source, settings.knowledge, now=clock(), manual=False)
        await runner.run_once()
        await runner.run_once()
        crawl = await store.get_crawl(pool, crawl_id, source.agent_id)
        assert crawl is not None and crawl.status == "completed"
        assert await _embed_jobs(pool) == [("queued", f"embed:{source.id}:1", 1)]
        assert (await _counts(pool, source))[1] == 0

        asked = len(fake_openai.state.embedding_requests)
        grounding = Grounding(pool, source.agent_id, settings.knowledge, "english", embedder=embedder)
        references = await grounding.references("When are you open on Saturday?")
        assert references and (references[0].url or "").endswith("/opening-hours")
        assert len(fake_openai.state.embedding_requests) == asked  # no vectors yet: the question's isn't asked

        fake_openai.state.options.embeddings_status = None
        clock.advance(minutes=1, seconds=1)
        await runner.run_once()
    assert await _embed_jobs(pool) == [("succeeded", f"embed:{source.id}:1", 2)]
    chunks, embedded = await _counts(pool, source)
    assert embedded == chunks > 0


async def test_the_sweep_queues_sources_left_without_vectors(
        pool: asyncpg.Pool, make_business: MakeBusiness, make_settings: MakeSettings, fake_openai: FakeOpenAi,
        site_server: TestServer) -> None:
    settings = _settings(make_settings, fake_openai)
    source = await _website(pool, (await make_business()).business_id, str(site_server.make_url("/")))
    clock = ManualClock(T0)
    async with knowledge_jobs.handlers(settings, pool, clock=clock) as found:
        runner = Runner(pool, found, JobsConfig(), recurring=knowledge_jobs.recurring(found), clock=clock)
        await queue_crawl_job(pool, source, settings.knowledge, now=clock(), manual=False)
        await runner.run_once()
        await pool.execute("DELETE FROM jobs WHERE kind = $1", EMBED_KIND)  # as if the process stopped before queueing
        clock.advance(minutes=30)
        await runner.run_once()  # the sweep falls due and queues the source's embedding
        await runner.run_once()
    assert await _embed_jobs(pool) == [("succeeded", f"embed:{source.id}:1", 1)]
    chunks, embedded = await _counts(pool, source)
    assert embedded == chunks > 0


async def test_embeddings_are_off_by_default(pool: asyncpg.Pool, make_business: MakeBusiness,
                                             make_settings: MakeSettings, make_client: MakeClient,
                                             fake_openai: FakeOpenAi) -> None:
    settings = make_settings(OPENAI_BASE_URL=fake_openai.base_url, OPENAI_API_KEY="test-key")
    assert settings.knowledge.embeddings == EmbeddingsConfig()
    client = await make_client(settings)
    assert client.app[EMBEDDER] is None
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Helper")
    resp = await client.post(f"/api/agents/{agent_id}/knowledge/sources", headers=tenant.headers, json={
        "type": "text", "title": "Parking", "content": "Patients park free in the garage under the practice."})
    assert resp.status == 201
    resp = await client.get(f"/api/agents/{agent_id}/knowledge/search", params={"q": "where can I park?"},
                            headers=tenant.headers)
    assert [hit["title"] for hit in (await resp.json())["results"]] == ["Parking"]
    async with knowledge_jobs.handlers(settings, pool) as found:
        assert set(found) == {CRAWL_KIND, REFRESH_KIND}
        assert knowledge_jobs.recurring(found) == knowledge_jobs.RECURRING
    assert fake_openai.state.embedding_requests == []
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE kind LIKE 'knowledge.embed%'") == 0


async def test_a_text_source_is_embedded_when_embeddings_are_on(
        pool: asyncpg.Pool, make_business: MakeBusiness, make_settings: MakeSettings, make_client: MakeClient,
        fake_openai: FakeOpenAi) -> None:
    settings = _settings(make_settings, fake_openai)
    client = await make_client(dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs,
                                                                                      run_in_process=False)))
    assert client.app[EMBEDDER] is not None
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Helper")
    resp = await client.post(f"/api/agents/{agent_id}/knowledge/sources", headers=tenant.headers, json={
        "type": "text", "title": "Parking", "content": "Patients park free in the garage under the practice."})
    source_id = (await resp.json())["source"]["id"]
    assert await _embed_jobs(pool) == [("queued", f"embed:{source_id}:1", 0)]


async def test_without_the_vector_extension_start_up_says_fts_only(
        pool: asyncpg.Pool, make_settings: MakeSettings, make_client: MakeClient, fake_openai: FakeOpenAi) -> None:
    await pool.execute("DROP TABLE kb_embeddings")  # what 0074 leaves where pgvector is missing
    settings = _settings(make_settings, fake_openai)
    with capture_logs() as logs:
        client = await make_client(settings)
    assert client.app[EMBEDDER] is None
    said = [(e["event"], e["reason"]) for e in logs if e["event"] == "knowledge_embeddings_off"]
    assert said == [("knowledge_embeddings_off", "no vector extension: FTS only")]
    async with knowledge_jobs.handlers(settings, pool) as found:
        assert EMBED_KIND not in found and SWEEP_KIND not in found


def test_the_embeddings_table_is_read_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    text = ROOT_CONFIG.read_text().replace('model = ""', 'model = "text-embedding-3-small"', 1)
    path.write_text(text.replace("batch_size = 64", "batch_size = 8", 1))
    settings = load_settings(env={}, path=path)
    assert settings.knowledge.embeddings == EmbeddingsConfig(model="text-embedding-3-small", batch_size=8)
    path.write_text(text.replace("batch_size = 64", "batch_sise = 8", 1))
    with pytest.raises(ConfigError, match="unknown config key knowledge.embeddings.batch_sise"):
        load_settings(env={}, path=path)
    path.write_text(text.replace('base_url = ""', 'base_url = "ftp://x"', 1))
    with pytest.raises(ConfigError, match="knowledge.embeddings.base_url"):
        load_settings(env={}, path=path)
