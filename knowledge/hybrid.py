"""Hybrid retrieval: full-text search and the question's nearest vectors, fused by reciprocal rank fusion.

Each list ranks up to `CANDIDATES` chunks; a chunk's fused score is the sum over the lists of
1 / (k + its rank there), k = 60 as in Cormack et al. (2009): agreeing lists lift a chunk,
and neither list's raw scores (ts_rank against cosine similarity) have to be made comparable.

The question's vector is asked for while full-text search runs; the vector side (that request
and the search of the nearest vectors) gets the caller's timeout: a slow or failed embeddings
server, or a search too slow for a call's budget, costs the answer the vectors' help, never
the answer (it is grounded by full-text search alone, and the miss is logged). The exact
search costs about 13 ms over an agent's 2,500 vectors of 1,536 dimensions and 2.3 ms at 256
(`dimensions`), so a call's half budget (10 ms) fits only the shorter vectors.

Vectors re-rank and widen what full-text search found, and never answer alone: when no chunk
holds a single term of the question, the answer is "nothing relevant", as without vectors.
Every chunk has nearest neighbours, relevant or not, so their distance alone can't tell.
An agent without vectors of the model (embeddings just turned on, or its job still to run)
is searched by full-text alone, without asking for the question's vector.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Sequence

import asyncpg
import structlog

from knowledge import index, vectors
from knowledge.embeddings import Embedder, EmbeddingError
from storage.executor import Executor

log = structlog.get_logger(__name__)

FUSION_K = 60
# Chunks each list ranks for the fusion.
CANDIDATES = 20


def fuse(rankings: Sequence[Sequence[index.Hit]], *, limit: int, k: int = FUSION_K) -> list[index.Hit]:
    """The best `limit` chunks by reciprocal rank fusion of the rankings (best first each); ties: the first list's order.

    Each hit's score becomes its fused score.
    """
    scores: dict[int, float] = {}
    first: dict[int, index.Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            scores[hit.chunk_id] = scores.get(hit.chunk_id, 0.0) + 1.0 / (k + rank)
            first.setdefault(hit.chunk_id, hit)
    order = {chunk_id: position for position, chunk_id in enumerate(first)}
    best = sorted(scores, key=lambda chunk_id: (-scores[chunk_id], order[chunk_id]))[:limit]
    return [dataclasses.replace(first[chunk_id], score=scores[chunk_id]) for chunk_id in best]


async def _question_vector(embedder: Embedder, text: str, timeout: float) -> list[float]:
    (vector,) = await embedder.embed([text], timeout=timeout)
    return vector


async def search(db: Executor, agent_id: uuid.UUID, text: str, *, language: str, limit: int,
                 embedder: Embedder | None, timeout: float) -> list[index.Hit]:
    """The agent's best chunks for `text`: fused with the nearest vectors when there are any, else full-text alone.

    Args:
        embedder: the question's vectors (None: embeddings are off).
        timeout: how long, from the call, the vector side (the question's vector and the search
            of the nearest) may take, in seconds; beyond, full-text alone.

    Returns:
        At most `limit` hits, best first.
    """
    if embedder is None or not await vectors.has_vectors(db, agent_id, embedder.model):
        return await index.search(db, agent_id, text, language=language, limit=limit)
    deadline = asyncio.get_running_loop().time() + timeout
    asking = asyncio.ensure_future(_question_vector(embedder, text, timeout))
    try:
        found = await index.search(db, agent_id, text, language=language, limit=max(limit, CANDIDATES))
    except BaseException:
        asking.cancel()
        raise
    if not found:
        asking.cancel()
        with contextlib.suppress(asyncio.CancelledError, EmbeddingError):
            await asking
        return []
    try:
        async with asyncio.timeout_at(deadline):
            vector = await asking
            near = await vectors.nearest(db, agent_id, embedder.model, vector, limit=max(limit, CANDIDATES))
    except TimeoutError:
        log.warning("knowledge_vector_skipped", reason="over time", timeout_ms=round(timeout * 1000))
        return found[:limit]
    except EmbeddingError as exc:
        log.warning("knowledge_vector_skipped", reason="failed", error=str(exc))
        return found[:limit]
    except asyncpg.DataError as exc:  # a vector of another length than the stored ones (the server changed)
        log.warning("knowledge_vector_skipped", reason="unusable", error=str(exc))
        return found[:limit]
    return fuse([found, near], limit=limit)
