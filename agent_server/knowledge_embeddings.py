"""The shell's side of the knowledge base's optional embeddings: the provider built from settings, once per process.

`[knowledge.embeddings] model` set and the database holding `kb_embeddings` (0074 creates it
where pgvector is available) turn them on; the key and, unless the section names its own, the
base URL are the LLM's (`OPENAI_API_KEY`, `OPENAI_BASE_URL`). A model set on a database
without the extension is said once at start-up ("no vector extension: FTS only") and the
agents are searched by full text alone. The web process keeps the provider under `EMBEDDER`
for the question side of retrieval (`grounding_for`); the job runner builds its own for the
`knowledge.embed` job (`knowledge_jobs`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import structlog
from aiohttp import web

from agent_server.agents import Agent
from agent_server.config import Settings
from agent_server.state import HTTP, POOL, SETTINGS
from knowledge import vectors
from knowledge.embeddings import Embedder, OpenAiEmbeddings
from knowledge.grounding import Grounding
from knowledge.languages import search_config

log = structlog.get_logger(__name__)

# The question side's provider; None: embeddings off (or no vector extension).
EMBEDDER: web.AppKey[Embedder | None] = web.AppKey("knowledge_embedder")


async def embedder_for(settings: Settings, pool: asyncpg.Pool, session: aiohttp.ClientSession, *,
                       say_missing: bool = False) -> OpenAiEmbeddings | None:
    """The configured provider, or None: no model set, or no `kb_embeddings` table (said when `say_missing`)."""
    config = settings.knowledge.embeddings
    if not config.model:
        return None
    if not await vectors.available(pool):
        if say_missing:
            log.warning("knowledge_embeddings_off", reason="no vector extension: FTS only", model=config.model)
        return None
    return OpenAiEmbeddings(session, base_url=config.base_url or settings.openai.base_url,
                            api_key=settings.openai.api_key, model=config.model, dimensions=config.dimensions)


async def _provider(app: web.Application) -> AsyncIterator[None]:
    app[EMBEDDER] = await embedder_for(app[SETTINGS], app[POOL], app[HTTP], say_missing=True)
    yield


def setup(app: web.Application) -> None:
    """Build the provider at start-up (after the pool and the HTTP session)."""
    app.cleanup_ctx.append(_provider)


def grounding_for(app: web.Application, agent: Agent, *, embedding_timeout_seconds: float | None = None) -> Grounding:
    """Retrieval for one of the agent's answers, with the question's vectors when embeddings are on."""
    settings = app[SETTINGS]
    return Grounding(app[POOL], agent.id, settings.knowledge, search_config(agent.language),
                     embedder=app.get(EMBEDDER), embedding_timeout_seconds=embedding_timeout_seconds)
