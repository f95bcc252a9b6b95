"""The answer cache: the model's answer to a conversation's first question, served again to the same question.

An answer is reused only where nothing that shaped it can differ: the same agent, on the same
channel (SMS and the widget are prompted differently), with the same agent configuration
(`agents.config_version`: prompt, name, model, temperature, FAQ, language) and the same
knowledge (`agents.knowledge_version`: every publish or deletion of one of its sources), from
the same producer (the server's provider, model and temperature where the agent sets none: a
server given an API key, or a new default model, doesn't serve the old answers), for the same
question once normalised (NFKC, case-folded, whitespace collapsed, trailing punctuation
dropped). The versions are bumped by triggers on `agents` and `kb_sources`
(0073), so every write, the future agent-edit route's included, makes older answers
unreachable: a stale answer is never served. Only a conversation's first message is looked
up or stored (with history the same words ask something else), only a model's answer that
called no tool is stored, and each answer lives for its agent's TTL.

There is no similarity matching: "turn on the alarm" and "turn off the alarm" are close by any
embedding yet want opposite answers.

A hit is counted on its row (hits, tokens saved: what the model was paid for the first
answer) in the statement that reads it; the sweep (`SWEEP_KIND`, hourly) deletes expired
and superseded answers and keeps their counts in `answer_cache_totals`.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import unicodedata
import uuid
from typing import Literal

import asyncpg

from conversations.conversation import AgentProfile, ModelDefaults, Reply
from jobs.queue import Job
from knowledge.grounding import Citation
from media.llm.base import LlmProvider
from storage.executor import Executor
from storage.transactions import transaction

CacheChannel = Literal["sms", "widget"]
SWEEP_KIND = "conversations.answer_cache_sweep"
SWEEP_SCHEDULE = "17 * * * *"


@dataclasses.dataclass(frozen=True, slots=True)
class CacheScope:
    """Which answers one agent may reuse now: the shell builds it from the agent's row (None: cache off)."""

    agent_id: uuid.UUID
    config_version: int
    knowledge_version: int
    ttl: datetime.timedelta


@dataclasses.dataclass(frozen=True, slots=True)
class CachedAnswer:
    text: str
    sources: tuple[Citation, ...]
    # Tokens the model used for it: what this hit saved.
    tokens: int


@dataclasses.dataclass(frozen=True, slots=True)
class CacheStats:
    answers: int
    hits: int
    tokens_saved: int


def normalise(question: str) -> str:
    """The question as the cache compares it: NFKC, case-folded, whitespace collapsed, trailing punctuation dropped."""
    text = " ".join(unicodedata.normalize("NFKC", question).casefold().split())
    end = len(text)
    while end and (text[end - 1].isspace() or unicodedata.category(text[end - 1]).startswith("P")):
        end -= 1
    return text[:end]


def producer(llm: LlmProvider, agent: AgentProfile, defaults: ModelDefaults) -> str:
    """What would write the answer: the provider, and the model and temperature it would be asked with."""
    temperature = defaults.temperature if agent.temperature is None else agent.temperature
    return f"{llm.name}|{agent.model or defaults.model}|{temperature}"


def cacheable(reply: Reply) -> bool:
    """Whether a reply may be kept: the model's own answer (not the FAQ's, a fallback or a hit) that called no tool.

    An answer a fallback model wrote is not kept either: it would be served as the agent's own model's
    (the cache key names that model) long after the outage that made it.
    """
    return reply.answered_by == "llm" and not reply.used_tools and not reply.fell_back


def _hash(producer: str, question: str) -> bytes:
    return hashlib.sha256(f"{producer}\n{question}".encode()).digest()


_KEY = "agent_id = $1 AND channel = $2 AND config_version = $3 AND knowledge_version = $4 AND question_hash = $5"


async def lookup(db: Executor, scope: CacheScope, channel: CacheChannel, question: str, *,
                 producer: str) -> CachedAnswer | None:
    """The stored answer to `question`, counted as a hit; None when there is none or it expired."""
    normalised = normalise(question)
    if not normalised:
        return None
    row = await db.fetchrow(
        "UPDATE answer_cache SET hits = hits + 1, tokens_saved = tokens_saved + tokens, last_hit_at = now()"
        f" WHERE {_KEY} AND expires_at > now() RETURNING answer, sources, tokens",
        scope.agent_id, channel, scope.config_version, scope.knowledge_version, _hash(producer, normalised))
    if row is None:
        return None
    return CachedAnswer(row["answer"], tuple(Citation(s["title"], s["url"]) for s in row["sources"]), row["tokens"])


async def store(db: Executor, scope: CacheScope, channel: CacheChannel, question: str, answer: str, *,
                producer: str, sources: tuple[Citation, ...], tokens: int) -> None:
    """Keep `answer` to `question` for the scope's TTL (an expired answer under the same key is replaced)."""
    normalised = normalise(question)
    if not normalised:
        return
    await db.execute(
        "INSERT INTO answer_cache (agent_id, channel, config_version, knowledge_version, question_hash, question,"
        " answer, sources, tokens, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, now() + $10::interval)"
        " ON CONFLICT (agent_id, channel, config_version, knowledge_version, question_hash) DO UPDATE"
        " SET answer = EXCLUDED.answer, sources = EXCLUDED.sources, tokens = EXCLUDED.tokens,"
        " created_at = now(), expires_at = EXCLUDED.expires_at WHERE answer_cache.expires_at <= now()",
        scope.agent_id, channel, scope.config_version, scope.knowledge_version, _hash(producer, normalised), normalised,
        answer, [{"title": s.title, "url": s.url} for s in sources], tokens, scope.ttl)


async def sweep(db: Executor) -> int:
    """Delete expired answers and those of an agent's earlier versions, keeping their counts; returns how many."""
    async with transaction(db) as conn:
        deleted = await conn.fetchval(
            "WITH gone AS (DELETE FROM answer_cache c USING agents a WHERE a.id = c.agent_id"
            " AND (c.expires_at <= now() OR c.config_version <> a.config_version"
            "      OR c.knowledge_version <> a.knowledge_version) RETURNING c.agent_id, c.hits, c.tokens_saved),"
            " counted AS (INSERT INTO answer_cache_totals AS t (agent_id, hits, tokens_saved)"
            "   SELECT agent_id, sum(hits), sum(tokens_saved) FROM gone GROUP BY agent_id"
            "   ON CONFLICT (agent_id) DO UPDATE SET hits = t.hits + EXCLUDED.hits,"
            "   tokens_saved = t.tokens_saved + EXCLUDED.tokens_saved)"
            " SELECT count(*) FROM gone")
        return int(deleted)


async def stats(db: Executor, agent_id: uuid.UUID) -> CacheStats:
    """The agent's live answers, and its hits and tokens saved over all time (swept answers included)."""
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM answer_cache WHERE agent_id = $1 AND expires_at > now()) AS answers,"
        " (SELECT coalesce(sum(hits), 0) FROM answer_cache WHERE agent_id = $1)"
        " + coalesce((SELECT hits FROM answer_cache_totals WHERE agent_id = $1), 0) AS hits,"
        " (SELECT coalesce(sum(tokens_saved), 0) FROM answer_cache WHERE agent_id = $1)"
        " + coalesce((SELECT tokens_saved FROM answer_cache_totals WHERE agent_id = $1), 0) AS tokens_saved",
        agent_id)
    assert row is not None
    return CacheStats(int(row["answers"]), int(row["hits"]), int(row["tokens_saved"]))


class SweepAnswerCache:
    """The handler of `conversations.answer_cache_sweep` jobs."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def __call__(self, job: Job) -> None:
        await sweep(self._pool)
