"""SQL for calls, their turns, latencies and faults: written by the voice webhook and the call session, read by
the dashboard.

Turns and provider faults are written by a per-call background writer so the conversation
never waits on the database; the call row is updated at the stream's start and end. Status callbacks may
repeat or arrive out of order, so a status only ever moves forward.
"""

from __future__ import annotations

import asyncio
import datetime
import math
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final

import asyncpg
import structlog

from storage.executor import Executor

log = structlog.get_logger(__name__)


TERMINAL_STATUSES: Final = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})
_STATUS_RANK: Final = {"queued": 0, "ringing": 1, "in-progress": 2}
"""Forward order of live statuses; every terminal status ranks above them (3)."""


def status_rank(status: str) -> int:
    """Order of call statuses; a status update never moves a call to a lower rank."""
    return 3 if status in TERMINAL_STATUSES else _STATUS_RANK.get(status, -1)


@dataclass(frozen=True, slots=True)
class StreamClaim:
    """The call a media stream joins (returned once per call)."""

    call_id: uuid.UUID
    call_sid: str
    business_id: uuid.UUID
    agent_id: uuid.UUID | None
    from_number: str
    to_number: str
    agent_version: int | None = None
    """The agent's version when the webhook admitted the call: the configuration the call runs with."""


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One utterance of the conversation as the caller experienced it."""

    role: str
    text: str
    started_at: datetime.datetime
    interrupted: bool = False
    server_latency_ms: int | None = None
    ear_latency_ms: int | None = None


@dataclass(frozen=True, slots=True)
class FaultRecord:
    """One provider fault of a call.

    Attributes:
        stage: ``stt``, ``llm`` or ``tts``.
        kind: what happened: an HTTP status class (``http_5xx``), ``connection``, ``timeout``, ``stalled``, ...
        at: when the call noticed it.
        detail: the provider's message, for whoever reads the call's record.
    """

    stage: str
    kind: str
    at: datetime.datetime
    detail: str


async def record_inbound_call(db: Executor, *, call_sid: str, business_id: uuid.UUID, number_id: uuid.UUID,
                              agent_id: uuid.UUID, from_number: str, to_number: str,
                              agent_version: int | None = None) -> uuid.UUID:
    """Insert the call from the voice webhook; Twilio's retry of the same webhook returns the same id
    (and keeps the agent version the first attempt stored)."""
    call_id: uuid.UUID = await db.fetchval(
        "INSERT INTO calls (call_sid, business_id, number_id, agent_id, from_number, to_number, status, agent_version)"
        " VALUES ($1, $2, $3, $4, $5, $6, 'ringing', $7)"
        " ON CONFLICT (call_sid) DO UPDATE SET call_sid = EXCLUDED.call_sid RETURNING id",
        call_sid, business_id, number_id, agent_id, from_number, to_number, agent_version)
    return call_id


async def live_call_count(db: Executor, *, within_seconds: int) -> int:
    """Calls not yet ended that started in the last ``within_seconds`` (older ones are orphans of a dead process)."""
    count: int = await db.fetchval(
        "SELECT count(*) FROM calls WHERE ended_at IS NULL AND started_at > now() - make_interval(secs => $1)",
        float(within_seconds))
    return count


async def record_busy_call(db: Executor, *, call_sid: str, business_id: uuid.UUID, number_id: uuid.UUID,
                           agent_id: uuid.UUID, from_number: str, to_number: str, end_reason: str) -> None:
    """Record a call turned away with a busy signal (already ended; a webhook retry records it once)."""
    await db.execute(
        "INSERT INTO calls (call_sid, business_id, number_id, agent_id, from_number, to_number, status, ended_at,"
        " duration_seconds, end_reason) VALUES ($1, $2, $3, $4, $5, $6, 'busy', now(), 0, $7)"
        " ON CONFLICT (call_sid) DO NOTHING",
        call_sid, business_id, number_id, agent_id, from_number, to_number, end_reason)


async def claim_stream(db: Executor, call_id: uuid.UUID, call_sid: str) -> StreamClaim | None:
    """Mark the call's stream as started; None when the call is unknown, ended, or already has one."""
    row = await db.fetchrow(
        "UPDATE calls SET stream_started_at = now(), answered_at = coalesce(answered_at, now()),"
        " status = CASE WHEN status IN ('queued', 'ringing') THEN 'in-progress' ELSE status END"
        " WHERE id = $1 AND call_sid = $2 AND stream_started_at IS NULL AND ended_at IS NULL"
        " RETURNING id, call_sid, business_id, agent_id, from_number, to_number, agent_version",
        call_id, call_sid)
    if row is None:
        return None
    return StreamClaim(row["id"], row["call_sid"], row["business_id"], row["agent_id"], row["from_number"],
                       row["to_number"], row["agent_version"])


async def finish_call(db: Executor, call_id: uuid.UUID, *, end_reason: str, duration_seconds: float,
                      transferred_to: str | None = None) -> None:
    """Close the call row once: end time, reason and the stream's duration in whole seconds (ceil)."""
    await db.execute(
        "UPDATE calls SET ended_at = now(), end_reason = $2, duration_seconds = $3,"
        " transferred_to = coalesce($4, transferred_to),"
        " status = CASE WHEN status IN ('completed', 'busy', 'failed', 'no-answer', 'canceled')"
        "               THEN status ELSE 'completed' END"
        " WHERE id = $1 AND ended_at IS NULL",
        call_id, end_reason, math.ceil(max(duration_seconds, 0.0)), transferred_to)


async def apply_status(db: Executor, call_sid: str, status: str, twilio_duration: int | None) -> uuid.UUID | None:
    """Apply a status callback in one statement; returns the call id (None for an unknown call).

    A repeated or late callback changes nothing: the status moves only forward, a terminal
    status is never replaced, and ``CallDuration`` is kept once known. The end time is set
    here only for a call whose stream never started (its session would have closed it).
    """
    rank = status_rank(status)
    call_id: uuid.UUID | None = await db.fetchval(
        "UPDATE calls SET"
        " status = CASE WHEN $3 > (CASE WHEN status IN ('completed', 'busy', 'failed', 'no-answer', 'canceled')"
        "   THEN 3 WHEN status = 'in-progress' THEN 2 WHEN status = 'ringing' THEN 1"
        "   WHEN status = 'queued' THEN 0 ELSE -1 END) THEN $2 ELSE status END,"
        " twilio_duration_seconds = coalesce(twilio_duration_seconds, $4),"
        " ended_at = CASE WHEN $3 = 3 AND stream_started_at IS NULL THEN coalesce(ended_at, now())"
        "   ELSE ended_at END"
        " WHERE call_sid = $1 RETURNING id",
        call_sid, status, rank, twilio_duration)
    return call_id


async def insert_turn(db: Executor, call_id: uuid.UUID, seq: int, turn: TurnRecord) -> None:
    """Store one turn."""
    await db.execute(
        "INSERT INTO call_turns (call_id, seq, role, text, started_at, interrupted, server_latency_ms,"
        " ear_latency_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (call_id, seq) DO NOTHING",
        call_id, seq, turn.role, turn.text, turn.started_at, turn.interrupted, turn.server_latency_ms,
        turn.ear_latency_ms)


async def insert_fault(db: Executor, call_id: uuid.UUID, seq: int, fault: FaultRecord) -> None:
    """Store one fault."""
    await db.execute(
        "INSERT INTO call_faults (call_id, seq, stage, kind, at, detail) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (call_id, seq) DO NOTHING", call_id, seq, fault.stage, fault.kind, fault.at, fault.detail)


_CALL_COLUMNS: Final = ("id, call_sid, business_id, number_id, agent_id, from_number, to_number, direction,"
                        " status, started_at, answered_at, ended_at, duration_seconds, twilio_duration_seconds,"
                        " end_reason, transferred_to,"
                        # What the call cost so far: its ledger entries, in its meter's currency.
                        " (SELECT -coalesce(sum(e.amount), 0) FROM ledger_entries e JOIN wallets w ON w.id = e.wallet_id"
                        "  WHERE w.business_id = calls.business_id AND e.reference = 'call:' || calls.call_sid)"
                        " AS cost_minor,"
                        " (SELECT m.currency FROM call_meters m WHERE m.call_sid = calls.call_sid) AS cost_currency")


async def list_calls(db: Executor, business_id: uuid.UUID, *, limit: int,
                     before: tuple[datetime.datetime, uuid.UUID] | None = None) -> list[dict[str, Any]]:
    """A page of a business's calls, newest first, after the keyset cursor ``before``."""
    if before is None:
        rows = await db.fetch(f"SELECT {_CALL_COLUMNS} FROM calls WHERE business_id = $1"
                              " ORDER BY started_at DESC, id DESC LIMIT $2", business_id, limit)
    else:
        rows = await db.fetch(f"SELECT {_CALL_COLUMNS} FROM calls WHERE business_id = $1"
                              " AND (started_at, id) < ($3, $4) ORDER BY started_at DESC, id DESC LIMIT $2",
                              business_id, limit, before[0], before[1])
    return [dict(r) for r in rows]


async def get_call(db: Executor, call_id: uuid.UUID) -> dict[str, Any] | None:
    """One call row."""
    row = await db.fetchrow(f"SELECT {_CALL_COLUMNS} FROM calls WHERE id = $1", call_id)
    return None if row is None else dict(row)


async def call_id_for_sid(db: Executor, call_sid: str) -> uuid.UUID | None:
    """The call id of a Twilio CallSid."""
    value: uuid.UUID | None = await db.fetchval("SELECT id FROM calls WHERE call_sid = $1", call_sid)
    return value


async def turns_of(db: Executor, call_id: uuid.UUID) -> list[dict[str, Any]]:
    """A call's turns in order."""
    rows = await db.fetch("SELECT seq, role, text, started_at, interrupted, server_latency_ms, ear_latency_ms"
                          " FROM call_turns WHERE call_id = $1 ORDER BY seq", call_id)
    return [dict(r) for r in rows]


async def faults_of(db: Executor, call_id: uuid.UUID) -> list[dict[str, Any]]:
    """A call's faults in order."""
    rows = await db.fetch("SELECT stage, kind, at, detail FROM call_faults WHERE call_id = $1 ORDER BY seq", call_id)
    return [dict(r) for r in rows]


@dataclass(frozen=True, slots=True)
class LlmAttemptRecord:
    """One request of a call's answer to the model, for the `llm_requests` row the shell writes."""

    model: str
    status: str
    """``ok``, ``error`` or ``timeout`` (no first or next token in time)."""
    http_status: int | None
    input_tokens: int
    cached_tokens: int
    output_tokens: int
    estimated: bool
    """No usage reported: the tokens are the 4-characters-a-token estimate."""
    first_token_ms: int | None


LlmAttemptSink = Callable[[LlmAttemptRecord], Awaitable[None]]
"""Writes a call's LLM attempt (the shell's; media doesn't know the `llm_requests` table's owner)."""


class CallRecorder:
    """Writes one call's turns, faults and LLM attempts in the background and closes its row at the end.

    Args:
        pool: the app's pool.
        call_id: the call.
        capacity: records queued before new ones are dropped (the database is stuck).
        llm_sink: where the call's LLM attempts go (None: not recorded).
    """

    def __init__(self, pool: asyncpg.Pool, call_id: uuid.UUID, capacity: int = 64,
                 llm_sink: LlmAttemptSink | None = None) -> None:
        self._pool = pool
        self.call_id = call_id
        self._seq = 0
        self._fault_seq = 0
        self._llm_sink = llm_sink
        self._queue: asyncio.Queue[tuple[int, TurnRecord | FaultRecord | LlmAttemptRecord] | None] = (
            asyncio.Queue(capacity))
        self._task = asyncio.create_task(self._write())

    def turn(self, record: TurnRecord) -> None:
        """Queue a turn; never blocks the conversation."""
        self._seq += 1
        try:
            self._queue.put_nowait((self._seq, record))
        except asyncio.QueueFull:
            log.error("call_turn_dropped", call_id=str(self.call_id), seq=self._seq)

    def fault(self, record: FaultRecord) -> None:
        """Queue a provider fault; never blocks the conversation."""
        self._fault_seq += 1
        try:
            self._queue.put_nowait((self._fault_seq, record))
        except asyncio.QueueFull:
            log.error("call_fault_dropped", call_id=str(self.call_id), seq=self._fault_seq)

    def llm_attempt(self, record: LlmAttemptRecord) -> None:
        """Queue one LLM attempt of an answer; never blocks the conversation."""
        if self._llm_sink is None:
            return
        try:
            self._queue.put_nowait((0, record))
        except asyncio.QueueFull:
            log.error("call_llm_attempt_dropped", call_id=str(self.call_id))

    async def _write(self) -> None:
        while (item := await self._queue.get()) is not None:
            seq, record = item
            try:
                if isinstance(record, LlmAttemptRecord):
                    if self._llm_sink is not None:
                        await self._llm_sink(record)
                elif isinstance(record, FaultRecord):
                    await insert_fault(self._pool, self.call_id, seq, record)
                else:
                    await insert_turn(self._pool, self.call_id, seq, record)
            except (asyncpg.PostgresError, OSError):
                log.exception("call_record_write_failed", call_id=str(self.call_id), seq=seq)

    async def close(self, *, end_reason: str, duration_seconds: float, transferred_to: str | None = None,
                    timeout: float = 5.0) -> None:
        """Flush queued turns and faults, then close the call row."""
        try:
            async with asyncio.timeout(timeout):
                await self._queue.put(None)
                await asyncio.shield(self._task)
        except TimeoutError:
            self._task.cancel()
            log.error("call_turns_flush_timeout", call_id=str(self.call_id))
        try:
            await finish_call(self._pool, self.call_id, end_reason=end_reason, duration_seconds=duration_seconds,
                              transferred_to=transferred_to)
        except (asyncpg.PostgresError, OSError):
            log.exception("call_finish_write_failed", call_id=str(self.call_id))
