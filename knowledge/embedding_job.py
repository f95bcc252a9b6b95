"""The `knowledge.embed` job: vectors for a published version's chunks; `knowledge.embed_sweep` queues what was missed.

Publishing never waits for vectors and never fails for them. After a version is published a
`knowledge.embed` job is queued (dedupe key per source and version) and embeds the source's
chunks that have no vector of the model, `batch_size` per request, writing each batch as it
comes: a failed request fails the attempt, and the job runner's retry (backoff 1 min to 2 h)
resumes with the chunks still missing. Meanwhile, and for good if the server never answers,
the agent is searched by full text (`knowledge.hybrid` asks for vectors only where there are).

`knowledge.embed_sweep` (every 30 minutes) queues the job again for every source whose active
version still has chunks without vectors: a job that failed its last attempt, a process that
stopped between publishing and queueing, or a new model (vectors of another are replaced).
Chunks of an older version go with their rows (cascade); unchanged pages keep theirs.
"""

from __future__ import annotations

import datetime
import uuid

import asyncpg
import structlog

from jobs import queue
from jobs.queue import Job
from jobs.runner import Clock, utc_now
from knowledge import vectors
from knowledge.config import EmbeddingsConfig
from knowledge.embeddings import Embedder
from storage.executor import Executor

log = structlog.get_logger(__name__)

EMBED_KIND = "knowledge.embed"
SWEEP_KIND = "knowledge.embed_sweep"
SWEEP_SCHEDULE = "*/30 * * * *"
# Sources queued per sweep; the rest at the next one.
SWEEP_BATCH = 200


async def queue_embedding(db: Executor, source_id: uuid.UUID, business_id: uuid.UUID, version: int, *,
                          now: datetime.datetime) -> int | None:
    """Queue the embedding of the source's `version` (in the caller's transaction when `db` is one).

    Returns:
        The job's id, or None when that version's job is already queued or running.
    """
    return await queue.enqueue(db, EMBED_KIND, {"sourceId": str(source_id), "version": version}, now=now,
                               business_id=business_id, dedupe_key=f"embed:{source_id}:{version}")


async def embed_source(db: Executor, source_id: uuid.UUID, embedder: Embedder, config: EmbeddingsConfig) -> int:
    """Give every chunk of the source's active version a vector of the embedder's model, batch by batch.

    Returns:
        How many vectors were written.

    Raises:
        EmbeddingError: a request failed (the batches before it are kept).
    """
    written = 0
    while chunks := await vectors.pending(db, source_id, embedder.model, limit=config.batch_size):
        found = await embedder.embed([c.text for c in chunks], timeout=config.timeout_seconds)
        written += await vectors.store(db, embedder.model, chunks, found)
    return written


class EmbedJob:
    """The handler of `knowledge.embed` jobs (payload `{"sourceId", "version"}`); a failure is retried by the runner."""

    def __init__(self, pool: asyncpg.Pool, embedder: Embedder, config: EmbeddingsConfig) -> None:
        self._pool = pool
        self._embedder = embedder
        self._config = config

    async def __call__(self, job: Job) -> None:
        source_id = uuid.UUID(str(job.payload["sourceId"]))
        written = await embed_source(self._pool, source_id, self._embedder, self._config)
        log.info("knowledge_embedded", source_id=str(source_id), vectors=written, model=self._embedder.model)


class EmbedSweep:
    """The handler of `knowledge.embed_sweep` jobs."""

    def __init__(self, pool: asyncpg.Pool, model: str, *, clock: Clock = utc_now) -> None:
        self._pool = pool
        self._model = model
        self._clock = clock

    async def __call__(self, job: Job) -> None:
        queued = 0
        for source in await vectors.sources_pending(self._pool, self._model, limit=SWEEP_BATCH):
            if await queue_embedding(self._pool, source.source_id, source.business_id, source.version,
                                     now=self._clock()) is not None:
                queued += 1
        if queued:
            log.info("knowledge_embeddings_queued", sources=queued)
