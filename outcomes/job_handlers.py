"""The outcome jobs, one handler per kind: the idle sweep, one conversation's analysis, the lead sweep, a batch.

The shell registers these with the runner (`agent_server/outcome_jobs.py`); each takes the
runner's clock, so the schedule, the timeouts and the claims move with a test's clock.
"""

from __future__ import annotations

import datetime
import uuid

import structlog

from jobs.queue import Job
from jobs.runner import Clock
from outcomes import ending, records
from outcomes.analysis import Analyser
from outcomes.config import OutcomesConfig
from storage.executor import Executor

log = structlog.get_logger(__name__)

LEAD_SWEEP_KIND = "outcomes.lead_sweep"
LEAD_SWEEP_SCHEDULE = "0 */6 * * *"
EXTRACT_BATCH_KIND = "outcomes.extract_batch"


class EndIdle:
    """`outcomes.end_idle`: end the conversations silent past their agent's timeout."""

    def __init__(self, db: Executor, *, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def __call__(self, job: Job) -> None:
        ended = await ending.end_idle(self._db, now=self._clock())
        if ended:
            log.info("conversations_ended", count=ended)


class Analyse:
    """`outcomes.analyse`: one ended conversation's analysis (nothing when another runner holds it)."""

    def __init__(self, analyser: Analyser) -> None:
        self._analyser = analyser

    async def __call__(self, job: Job) -> None:
        await self._analyser.analyse_one(uuid.UUID(job.payload["conversationId"]))


class LeadSweep:
    """`outcomes.lead_sweep`: analyse up to `sweep_batch` ended, unanalysed conversations, a few at a time."""

    def __init__(self, db: Executor, analyser: Analyser, config: OutcomesConfig) -> None:
        self._db = db
        self._analyser = analyser
        self._config = config

    async def __call__(self, job: Job) -> None:
        now, until = self._analyser.claim_until()
        claimed = await records.claim_batch(self._db, now=now, until=until, limit=self._config.sweep_batch)
        await self._analyser.analyse_batch(claimed)
        log.info("lead_sweep_done", analysed=len(claimed))


class ExtractBatch:
    """`outcomes.extract_batch`: one business's unanalysed conversations that ended in a range (and channel)."""

    def __init__(self, db: Executor, analyser: Analyser, config: OutcomesConfig) -> None:
        self._db = db
        self._analyser = analyser
        self._config = config

    async def __call__(self, job: Job) -> None:
        payload = job.payload
        seen: set[uuid.UUID] = set()
        while True:
            now, until = self._analyser.claim_until()
            claimed = await records.claim_batch(
                self._db, now=now, until=until, limit=self._config.sweep_batch,
                business_id=uuid.UUID(payload["businessId"]), start=datetime.datetime.fromisoformat(payload["from"]),
                end=datetime.datetime.fromisoformat(payload["to"]), channel=payload.get("channel"))
            if not claimed:
                return
            await self._analyser.analyse_batch(claimed)
            if seen & {o.id for o in claimed}:
                return  # the model failed on these before: they wait for the next sweep
            seen |= {o.id for o in claimed}
