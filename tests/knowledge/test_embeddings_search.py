"""Optional embeddings, question side: reciprocal rank fusion, one agent's vectors only, full text when vectors fail."""

from __future__ import annotations

import datetime
import time
import uuid

import asyncpg
from structlog.testing import capture_logs

from agent_server import agents
from knowledge import hybrid, index, store, vectors
from knowledge.config import EmbeddingsConfig, KnowledgeConfig
from knowledge.crawler import CrawlReport
from knowledge.embedding_job import embed_source
from knowledge.embeddings import OpenAiEmbeddings
from knowledge.grounding import Grounding
from tests.conftest import MakeBusiness
from tests.fake_openai import FakeOpenAi
from tests.knowledge.conftest import EMBEDDING_MODEL
from tests.knowledge.published import page

PAGES = [
    ("https://dentist.example/hours", "Opening hours",
     "The practice is open Monday to Thursday from 8 am to 7 pm and on Fridays until noon."),
    ("https://dentist.example/parking", "Parking",
     "Patients park free in the garage under the practice. The entrance is on Mill Lane."),
    ("https://dentist.example/fees", "Fees", "A check-up costs 45 pounds; a hygienist visit costs 60 pounds."),
    ("https://dentist.example/emergencies", "Emergencies",
     "Call the practice before 10 am for a same-day emergency appointment; out of hours, call 111."),
]
CONFIG = EmbeddingsConfig(model=EMBEDDING_MODEL, batch_size=2)


def _hit(chunk_id: int) -> index.Hit:
    return index.Hit(chunk_id, f"t{chunk_id}", None, "", "", 0.0)


async def _embedded_agent(pool: asyncpg.Pool, business_id: uuid.UUID, embedder: OpenAiEmbeddings) -> uuid.UUID:
    """An agent with the dentist's pages published and embedded."""
    agent_id = await agents.create_agent(pool, business_id, "Reception")
    source = await store.create_source(pool, business_id=business_id, agent_id=agent_id, kind="website",
                                       url="https://dentist.example/")
    await index.publish(pool, source, CrawlReport(pages=[page(*p) for p in PAGES]), caps=index.Caps(100, 10**6),
                        language="english", now=datetime.datetime.now(datetime.UTC))
    assert await embed_source(pool, source.id, embedder, CONFIG) == len(PAGES)
    return agent_id


async def _chunk_ids(pool: asyncpg.Pool, agent_id: uuid.UUID) -> set[int]:
    return {r["id"] for r in await pool.fetch("SELECT id FROM kb_chunks WHERE agent_id = $1", agent_id)}


def test_fusion_ranks_by_the_sum_of_reciprocal_ranks() -> None:
    a, b, c, d = (_hit(i) for i in (1, 2, 3, 4))
    fused = hybrid.fuse([[a, b, c], [c, d, a]], limit=3)
    # a and c: 1/61 + 1/63 each (a first: the first list's order), b and d: 1/62 each.
    assert [h.chunk_id for h in fused] == [1, 3, 2]
    assert fused[0].score == 1 / 61 + 1 / 63 and fused[2].score == 1 / 62
    assert [h.chunk_id for h in hybrid.fuse([[d], [b, d]], limit=4)] == [4, 2]


async def test_another_agents_vectors_are_never_returned(pool: asyncpg.Pool, make_business: MakeBusiness,
                                                         embedder: OpenAiEmbeddings) -> None:
    mine = await _embedded_agent(pool, (await make_business("Mine")).business_id, embedder)
    theirs = await _embedded_agent(pool, (await make_business("Theirs")).business_id, embedder)
    assert await pool.fetchval("SELECT count(*) FROM kb_embeddings WHERE agent_id = $1", theirs) == len(PAGES)
    question = "Where do patients park?"
    (vector,) = await embedder.embed([question], timeout=5)
    near = await vectors.nearest(pool, mine, EMBEDDING_MODEL, vector, limit=50)
    assert {h.chunk_id for h in near} == await _chunk_ids(pool, mine)
    hits = await hybrid.search(pool, mine, question, language="english", limit=4, embedder=embedder, timeout=5)
    assert hits and hits[0].url == "https://dentist.example/parking"
    assert {h.chunk_id for h in hits} <= await _chunk_ids(pool, mine)


async def test_the_fused_answer_is_grounded_in_vectors_and_full_text(pool: asyncpg.Pool, make_business: MakeBusiness,
                                                                    embedder: OpenAiEmbeddings,
                                                                    fake_openai: FakeOpenAi) -> None:
    agent_id = await _embedded_agent(pool, (await make_business()).business_id, embedder)
    asked = len(fake_openai.state.embedding_requests)
    grounding = Grounding(pool, agent_id, KnowledgeConfig(embeddings=CONFIG), "english", embedder=embedder)
    references = await grounding.references("How much does a check-up cost?")
    assert references[0].url == "https://dentist.example/fees"
    assert fake_openai.state.embedding_requests[asked:] == [
        {"model": EMBEDDING_MODEL, "input": ["How much does a check-up cost?"]}]


async def test_a_failing_or_slow_question_vector_falls_back_to_full_text(
        pool: asyncpg.Pool, make_business: MakeBusiness, embedder: OpenAiEmbeddings, fake_openai: FakeOpenAi) -> None:
    agent_id = await _embedded_agent(pool, (await make_business()).business_id, embedder)
    question = "Is there an emergency appointment today?"
    full_text = await index.search(pool, agent_id, question, language="english", limit=4)
    fake_openai.state.options.embeddings_status = 500
    with capture_logs() as logs:
        hits = await hybrid.search(pool, agent_id, question, language="english", limit=4, embedder=embedder,
                                   timeout=5)
    assert hits == full_text and hits[0].url == "https://dentist.example/emergencies"
    assert [(e["event"], e["reason"]) for e in logs] == [("knowledge_vector_skipped", "failed")]
    assert "500" in logs[0]["error"]

    fake_openai.state.options.embeddings_status = None
    fake_openai.state.options.embeddings_delay = 1.0
    started = time.perf_counter()
    with capture_logs() as logs:
        hits = await hybrid.search(pool, agent_id, question, language="english", limit=4, embedder=embedder,
                                   timeout=0.05)
    assert hits == full_text and time.perf_counter() - started < 0.8
    assert [e["event"] for e in logs] == ["knowledge_vector_skipped"]  # over time, or the request's own timeout


async def test_a_question_sharing_no_term_with_the_knowledge_finds_nothing_despite_vectors(
        pool: asyncpg.Pool, make_business: MakeBusiness, embedder: OpenAiEmbeddings) -> None:
    agent_id = await _embedded_agent(pool, (await make_business()).business_id, embedder)
    assert await hybrid.search(pool, agent_id, "Quetzalcoatl xylophone", language="english", limit=4,
                               embedder=embedder, timeout=5) == []
