"""The answer cache's key, lifetime and counts, and the version triggers that keep stale answers unreachable."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from agent_server import agents
from conversations import answer_cache
from conversations.answer_cache import CacheChannel, CachedAnswer, CacheScope, normalise
from knowledge import store
from knowledge.grounding import Citation
from tests.conftest import MakeBusiness

MODEL = "openai|gpt-4o-mini|0.3"
PARKING = (Citation("Parking", "https://dentist.example/parking"),)


@pytest.mark.parametrize(("asked", "stored"), [
    ("  What ARE your\thours?! ", "What are your hours"),
    ("ＷＨＥＲＥ　ｃａｎ　Ｉ　ｐａｒｋ？", "where can i park"),  # full-width letters and space (NFKC)
    ("Öffnungszeiten der Straße…", "öffnungszeiten der strasse"),  # case-folded, not just lower-cased
    ("Is it open at 9.30?", "is it open at 9.30"),  # punctuation inside the question stays
])
def test_questions_differing_in_case_width_spacing_or_trailing_punctuation_share_a_key(asked: str,
                                                                                       stored: str) -> None:
    assert normalise(asked) == normalise(stored)


def test_punctuation_inside_a_question_tells_questions_apart() -> None:
    assert normalise("Is it open at 9.30?") != normalise("Is it open at 930?")
    assert normalise("?!") == ""


async def scope_of(pool: asyncpg.Pool, agent_id: uuid.UUID) -> CacheScope:
    agent = await agents.get_agent(pool, agent_id)
    assert agent is not None
    scope = agents.cache_scope(agent)
    assert scope is not None
    return scope


async def keep(pool: asyncpg.Pool, scope: CacheScope, channel: CacheChannel, question: str, answer: str, *,
               tokens: int, sources: tuple[Citation, ...] = ()) -> None:
    await answer_cache.store(pool, scope, channel, question, answer, producer=MODEL, sources=sources, tokens=tokens)


async def find(pool: asyncpg.Pool, scope: CacheScope, channel: CacheChannel, question: str,
               producer: str = MODEL) -> CachedAnswer | None:
    return await answer_cache.lookup(pool, scope, channel, question, producer=producer)


async def test_a_stored_answer_is_served_with_its_sources_and_counted(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Desk")
    scope = await scope_of(pool, agent_id)
    await keep(pool, scope, "widget", "Where can I park?", "In the garage.", sources=PARKING, tokens=120)
    for _ in range(2):
        assert await find(pool, scope, "widget", "where can i park") == CachedAnswer("In the garage.", PARKING, 120)
    assert await find(pool, scope, "sms", "Where can I park?") is None  # prompted differently
    assert await find(pool, scope, "widget", "Where can I park?", "openai|gpt-4.1|0.3") is None  # another model
    assert await answer_cache.stats(pool, agent_id) == answer_cache.CacheStats(answers=1, hits=2, tokens_saved=240)


async def test_an_expired_answer_is_not_served_and_the_next_answer_replaces_it(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Desk")
    scope = await scope_of(pool, agent_id)
    await keep(pool, scope, "sms", "Do you open on Sundays?", "No.", tokens=50)
    await keep(pool, scope, "sms", "Do you open on Sundays?", "Not kept: one is live.", tokens=50)
    hit = await find(pool, scope, "sms", "Do you open on Sundays?")
    assert hit is not None and hit.text == "No."
    await pool.execute("UPDATE answer_cache SET expires_at = now() - interval '1 second'")
    assert await find(pool, scope, "sms", "Do you open on Sundays?") is None
    await keep(pool, scope, "sms", "Do you open on Sundays?", "Sundays 10 to 2 now.", tokens=60)
    hit = await find(pool, scope, "sms", "Do you open on Sundays?")
    assert hit is not None and hit.text == "Sundays 10 to 2 now."


async def test_answer_shaping_edits_bump_the_config_version_and_other_edits_do_not(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Desk")
    versions = []
    for change in ("greeting = 'Hello!'", "voice = 'aura-2'", "answer_cache_ttl_seconds = 60",
                   "system_prompt = 'Be brief.'", "model = 'gpt-4.1-mini'", "temperature = 0.2",
                   """faq = '[{"question": "Hours?", "answer": "9-5"}]'""", "name = 'Front desk'",
                   "language = 'fr-FR'", "greeting = 'Bonjour'"):
        await pool.execute(f"UPDATE agents SET {change} WHERE id = $1", agent_id)
        versions.append((await scope_of(pool, agent_id)).config_version)
    assert versions == [1, 1, 1, 2, 3, 4, 5, 6, 7, 7]


async def test_publishing_or_deleting_a_source_bumps_the_knowledge_version(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Desk")
    source = await store.create_source(pool, business_id=tenant.business_id, agent_id=agent_id, kind="text",
                                       title="Prices")
    assert (await scope_of(pool, agent_id)).knowledge_version == 1  # nothing published yet
    await pool.execute("UPDATE kb_sources SET active_version = 1 WHERE id = $1", source.id)
    assert (await scope_of(pool, agent_id)).knowledge_version == 2
    await store.delete_source(pool, source.id, agent_id)
    assert (await scope_of(pool, agent_id)).knowledge_version == 3


async def test_the_sweep_deletes_expired_and_superseded_answers_and_keeps_their_counts(
        pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Desk")
    old = await scope_of(pool, agent_id)
    await keep(pool, old, "widget", "Where can I park?", "In the garage.", sources=PARKING, tokens=100)
    await find(pool, old, "widget", "Where can I park?")
    await pool.execute("UPDATE agents SET system_prompt = 'Be brief.' WHERE id = $1", agent_id)
    new = await scope_of(pool, agent_id)
    await keep(pool, new, "widget", "Where can I park?", "Garage.", sources=PARKING, tokens=80)
    await keep(pool, new, "widget", "Are you open?", "Yes.", tokens=40)
    await find(pool, new, "widget", "Are you open?")
    await pool.execute("UPDATE answer_cache SET expires_at = now() WHERE question = 'are you open'")

    assert await answer_cache.sweep(pool) == 2
    assert await find(pool, new, "widget", "where can I park?") is not None
    assert await answer_cache.stats(pool, agent_id) == answer_cache.CacheStats(answers=1, hits=3, tokens_saved=220)
    assert await answer_cache.sweep(pool) == 0
