"""SQL for `call_recordings`: one row per recorded call, kept after its file is deleted."""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Literal

from storage.executor import Executor

Status = Literal["recording", "ready", "failed", "deleted"]


@dataclass(frozen=True, slots=True)
class RecordingRow:
    """What the dashboard shows of a recording, and where its file is."""

    call_id: uuid.UUID
    status: Status
    backend: str
    location: str
    duration_ms: int | None
    bytes: int | None
    deleted_at: datetime.datetime | None


async def start(db: Executor, *, call_id: uuid.UUID, business_id: uuid.UUID, backend: str, location: str,
                retention_days: int) -> None:
    """A recording begins (the call's stream started with recording on)."""
    await db.execute(
        "INSERT INTO call_recordings (call_id, business_id, backend, location, retention_days)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (call_id) DO NOTHING",
        call_id, business_id, backend, location, retention_days)


async def finish(db: Executor, call_id: uuid.UUID, *, ok: bool, duration_ms: int, size: int) -> None:
    """The call ended and its file is complete (or failed to write)."""
    await db.execute(
        "UPDATE call_recordings SET status = $2, duration_ms = $3, bytes = $4, finished_at = now()"
        " WHERE call_id = $1 AND status = 'recording'",
        call_id, "ready" if ok else "failed", duration_ms, size)


async def get(db: Executor, business_id: uuid.UUID, call_id: uuid.UUID) -> RecordingRow | None:
    """The business's recording of this call, whatever its status (None: not recorded, or not theirs)."""
    row = await db.fetchrow(
        "SELECT call_id, status, backend, location, duration_ms, bytes, deleted_at FROM call_recordings"
        " WHERE call_id = $1 AND business_id = $2", call_id, business_id)
    return None if row is None else RecordingRow(**dict(row))


async def by_call(db: Executor, call_id: uuid.UUID) -> RecordingRow | None:
    """The recording of this call, whichever business it belongs to (for jobs, never for routes)."""
    row = await db.fetchrow(
        "SELECT call_id, status, backend, location, duration_ms, bytes, deleted_at FROM call_recordings"
        " WHERE call_id = $1", call_id)
    return None if row is None else RecordingRow(**dict(row))


async def uploaded(db: Executor, call_id: uuid.UUID) -> bool:
    """The file is in the bucket now; False when the recording was deleted meanwhile (remove the object)."""
    done = await db.fetchval(
        "UPDATE call_recordings SET backend = 's3' WHERE call_id = $1 AND status <> 'deleted' RETURNING call_id",
        call_id)
    return done is not None


async def mark_deleted(db: Executor, business_id: uuid.UUID | None, call_id: uuid.UUID, *,
                       by: uuid.UUID | None) -> RecordingRow | None:
    """Mark a recording deleted (who, when, why); None when there was none to delete.

    A user (``by``) deletes a finished one; retention (``by`` None) also one left `recording`.

    The row is marked before the file goes: a crash in between leaves a file no route serves,
    never a row pointing at nothing.
    """
    row = await db.fetchrow(
        "UPDATE call_recordings SET status = 'deleted', deleted_at = now(), deleted_by = $3,"
        " deleted_reason = CASE WHEN $3::uuid IS NULL THEN 'retention' ELSE 'user' END"
        " WHERE call_id = $1 AND ($2::uuid IS NULL OR business_id = $2)"
        " AND (status IN ('ready', 'failed') OR (status = 'recording' AND $3::uuid IS NULL))"
        " RETURNING call_id, status, backend, location, duration_ms, bytes, deleted_at",
        call_id, business_id, by)
    return None if row is None else RecordingRow(**dict(row))


async def expired(db: Executor, now: datetime.datetime, limit: int) -> list[uuid.UUID]:
    """Recordings past their retention at ``now``, oldest first.

    One still `recording` that long (its process died mid-call) is past it too: its partial
    file goes the same way.
    """
    rows = await db.fetch(
        "SELECT call_id FROM call_recordings WHERE status IN ('ready', 'failed', 'recording')"
        " AND coalesce(finished_at, started_at) + retention_days * interval '1 day' < $1"
        " ORDER BY coalesce(finished_at, started_at) LIMIT $2", now, limit)
    return [r["call_id"] for r in rows]
