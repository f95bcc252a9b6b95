"""The `jobs` and `job_schedules` tables: enqueue, claim, finish, retry, take back expired leases.

Every statement takes the time from the caller (`now`), never from the database, so a test's
injected clock moves the whole queue: due times, leases and the retry schedule.

A job is claimed with `FOR UPDATE SKIP LOCKED`, so runners in many processes share the queue
without waiting on each other. Each claim counts an attempt, and the attempt number fences
the claim: a runner whose lease expired (and whose job another runner took) can no longer
finish or fail that job.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import asyncpg

from storage.executor import Executor
from storage.transactions import transaction

# After attempt n fails, attempt n + 1 runs BACKOFF[n - 1] later; after the last, the job is failed.
BACKOFF: tuple[datetime.timedelta, ...] = (
    datetime.timedelta(minutes=1), datetime.timedelta(minutes=5),
    datetime.timedelta(minutes=30), datetime.timedelta(hours=2),
)
MAX_ATTEMPTS = len(BACKOFF) + 1
Status = Literal["queued", "running", "succeeded", "failed"]
STATUSES: tuple[Status, ...] = ("queued", "running", "succeeded", "failed")
_MAX_ERROR_CHARS = 2000
_OPEN = "dedupe_key IS NOT NULL AND status IN ('queued', 'running')"
# Runners LISTEN here (`runner.Runner`, given a DSN): an enqueue of a due job wakes them.
WAKE_CHANNEL = "jobs_due"


@dataclasses.dataclass(frozen=True)
class Job:
    """A claimed job, as its handler sees it."""

    id: int
    kind: str
    payload: dict[str, Any]
    business_id: uuid.UUID | None
    dedupe_key: str | None
    attempt: int
    run_at: datetime.datetime

    @property
    def last_attempt(self) -> bool:
        """True when a failure now fails the job for good (a handler may record that on its own rows)."""
        return self.attempt >= MAX_ATTEMPTS


@dataclasses.dataclass(frozen=True)
class JobRecord:
    """A job's row, for listings."""

    id: int
    kind: str
    status: Status
    business_id: uuid.UUID | None
    dedupe_key: str | None
    attempts: int
    last_error: str | None
    run_at: datetime.datetime
    created_at: datetime.datetime
    updated_at: datetime.datetime
    finished_at: datetime.datetime | None


_RECORD_COLUMNS = ("id, kind, status, business_id, dedupe_key, attempts, last_error, run_at, created_at,"
                   " updated_at, finished_at")


def _record(row: asyncpg.Record) -> JobRecord:
    return JobRecord(**dict(row))


async def enqueue(db: Executor, kind: str, payload: dict[str, Any] | None = None, *, now: datetime.datetime,
                  run_at: datetime.datetime | None = None, business_id: uuid.UUID | None = None,
                  dedupe_key: str | None = None) -> int | None:
    """Queue a job, in the caller's transaction when `db` is a connection inside one.

    A job due now also NOTIFYs `WAKE_CHANNEL` in the same statement (delivered at commit, and
    once per transaction however many jobs it queued), so idle runners claim it at once rather
    than at their next poll.

    Returns:
        The new job's id, or None when a job of this kind with this dedupe key is still
        queued or running (enqueuing twice is one job).
    """
    job_id: int | None = await db.fetchval(
        "WITH job AS (INSERT INTO jobs (kind, payload, business_id, dedupe_key, run_at, created_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $6)"
        f" ON CONFLICT (kind, dedupe_key) WHERE {_OPEN} DO NOTHING RETURNING id, run_at)"
        f" SELECT id, CASE WHEN run_at <= $6 THEN pg_notify('{WAKE_CHANNEL}', '')::text END FROM job",
        kind, payload or {}, business_id, dedupe_key, run_at or now, now)
    return job_id


async def claim(db: Executor, *, kinds: Sequence[str], limit: int, worker: str, now: datetime.datetime,
                lease: datetime.timedelta) -> list[Job]:
    """Take up to `limit` due jobs of these kinds, oldest due first, skipping rows other runners hold."""
    rows = await db.fetch(
        "WITH due AS (SELECT id FROM jobs WHERE status = 'queued' AND run_at <= $1 AND kind = ANY($2::text[])"
        "             ORDER BY run_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)"
        " UPDATE jobs j SET status = 'running', attempts = j.attempts + 1, locked_by = $4, lease_until = $5,"
        "                   updated_at = $1"
        " FROM due WHERE j.id = due.id"
        " RETURNING j.id, j.kind, j.payload, j.business_id, j.dedupe_key, j.attempts AS attempt, j.run_at",
        now, list(kinds), limit, worker, now + lease)
    return sorted((Job(**dict(r)) for r in rows), key=lambda job: (job.run_at, job.id))


def _fence(job: Job, worker: str) -> tuple[str, tuple[object, ...]]:
    return "id = $1 AND status = 'running' AND attempts = $2 AND locked_by = $3", (job.id, job.attempt, worker)


async def succeed(db: Executor, job: Job, *, worker: str, now: datetime.datetime) -> bool:
    """Mark the job succeeded; False when the claim was lost (lease expired and taken back)."""
    where, args = _fence(job, worker)
    done = await db.fetchval(
        "UPDATE jobs SET status = 'succeeded', finished_at = $4, updated_at = $4, lease_until = NULL,"
        f" last_error = NULL WHERE {where} RETURNING true", *args, now)
    return bool(done)


async def fail(db: Executor, job: Job, error: str, *, worker: str, now: datetime.datetime,
               permanent: bool = False) -> Status | None:
    """Record a failed attempt: queue the next one after its backoff, or fail the job for good.

    Returns:
        The job's new status, or None when the claim was lost.
    """
    where, args = _fence(job, worker)
    error = error[:_MAX_ERROR_CHARS]
    if permanent or job.last_attempt:
        done = await db.fetchval(
            "UPDATE jobs SET status = 'failed', finished_at = $4, updated_at = $4, lease_until = NULL,"
            f" last_error = $5 WHERE {where} RETURNING true", *args, now, error)
        return "failed" if done else None
    done = await db.fetchval(
        "UPDATE jobs SET status = 'queued', run_at = $5, updated_at = $4, lease_until = NULL, locked_by = NULL,"
        f" last_error = $6 WHERE {where} RETURNING true", *args, now, now + BACKOFF[job.attempt - 1], error)
    return "queued" if done else None


async def release(db: Executor, job: Job, *, worker: str, now: datetime.datetime) -> None:
    """Give a job back unfinished (the runner is stopping): due now, and this attempt not counted."""
    where, args = _fence(job, worker)
    await db.execute(
        "UPDATE jobs SET status = 'queued', run_at = $4, updated_at = $4, lease_until = NULL, locked_by = NULL,"
        f" attempts = attempts - 1 WHERE {where}", *args, now)


async def renew(db: Executor, ids: Sequence[int], *, worker: str, now: datetime.datetime,
                lease: datetime.timedelta) -> None:
    """Extend the leases of the jobs this runner is still running."""
    await db.execute(
        "UPDATE jobs SET lease_until = $3, updated_at = $4"
        " WHERE id = ANY($1::bigint[]) AND locked_by = $2 AND status = 'running'",
        list(ids), worker, now + lease, now)


async def take_back_expired(db: Executor, *, now: datetime.datetime) -> int:
    """Queue again (due now) the jobs whose runner's lease ran out: it died mid-job.

    The dead runner's attempt counts, so a job that kills its runner every time ends failed.
    """
    status: str = await db.execute(
        "UPDATE jobs SET status = CASE WHEN attempts >= $2 THEN 'failed' ELSE 'queued' END,"
        " finished_at = CASE WHEN attempts >= $2 THEN $1 END,"
        " run_at = $1, updated_at = $1, lease_until = NULL, locked_by = NULL,"
        " last_error = 'lease expired: the runner ' || coalesce(locked_by, '?') || ' stopped mid-job'"
        " WHERE status = 'running' AND lease_until < $1", now, MAX_ATTEMPTS)
    return int(status.rsplit(" ", 1)[-1])


async def enqueue_due(db: Executor, kind: str, due: datetime.datetime, *, now: datetime.datetime) -> bool:
    """Enqueue the recurring `kind` for its due time `due`, unless any process already has.

    The schedule row moves forward only once per due time (compare-and-set), in the same
    transaction as the job, so N runners ticking at once enqueue one job. The first time a
    kind is seen its current due time is only recorded: a newly deployed schedule first runs
    at its next due time, not at once for one in the past.

    Returns:
        True when this call enqueued the job.
    """
    async with transaction(db) as conn:
        row = await conn.fetchrow(
            "INSERT INTO job_schedules (kind, last_due) VALUES ($1, $2)"
            " ON CONFLICT (kind) DO UPDATE SET last_due = EXCLUDED.last_due"
            " WHERE job_schedules.last_due < EXCLUDED.last_due"
            " RETURNING (xmax = 0) AS first_seen", kind, due)
        if row is None or row["first_seen"]:
            return False
        await enqueue(conn, kind, {"due": due.isoformat()}, now=now, run_at=due,
                      dedupe_key=f"{kind}@{due.isoformat()}")
        return True


async def open_dedupe_key(db: Executor, job: Job) -> None:
    """Let a job of this kind and key be queued again while this one runs (it has begun its work).

    A job that drains a queue (all of one endpoint's due messages, say) calls this first: what
    arrives before the call is drained by it, what arrives after gets a job of its own.
    """
    await db.execute("UPDATE jobs SET dedupe_key = NULL WHERE id = $1 AND status = 'running'", job.id)


async def find(db: Executor, job_id: int) -> JobRecord | None:
    row = await db.fetchrow(f"SELECT {_RECORD_COLUMNS} FROM jobs WHERE id = $1", job_id)
    return None if row is None else _record(row)


async def list_for_business(db: Executor, business_id: uuid.UUID, *, status: Status | None = None,
                            limit: int = 100) -> list[JobRecord]:
    """A business's own jobs, newest first (jobs without a business are never listed)."""
    rows = await db.fetch(
        f"SELECT {_RECORD_COLUMNS} FROM jobs WHERE business_id = $1 AND ($2::text IS NULL OR status = $2)"
        " ORDER BY created_at DESC, id DESC LIMIT $3", business_id, status, limit)
    return [_record(r) for r in rows]
