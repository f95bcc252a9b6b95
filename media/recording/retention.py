"""Deleting recordings: one a user asks for, and the daily sweep of those past their agent's retention.

Both mark the row first (who, when, why) and then remove the file, so a crash in between
leaves a file nothing serves rather than a row pointing at nothing. Files are removed in a
thread: unlinking on a slow disk must not stall the loop that carries calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import uuid
from pathlib import Path
from typing import Final

import asyncpg

from jobs.queue import Job
from media.recording import records
from media.recording.s3_store import S3Recordings
from storage.executor import Executor

RETENTION_KIND: Final = "media.recordings_retention"
RETENTION_SCHEDULE: Final = "15 3 * * *"
"""Every day at 03:15 UTC."""


def _unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


async def delete(db: Executor, root: Path, business_id: uuid.UUID | None, call_id: uuid.UUID, *,
                 by: uuid.UUID | None, bucket: S3Recordings | None = None) -> bool:
    """Delete one recording: a user's (``by``) of their business, or retention's (both None); False if none.

    An uploaded one (`backend` s3) is removed from ``bucket``; one not uploaded yet from the disk.
    """
    row = await records.mark_deleted(db, business_id, call_id, by=by)
    if row is None:
        return False
    if row.backend == "s3" and bucket is not None:
        await bucket.delete(row.location)
    else:
        await asyncio.to_thread(_unlink, root / row.location)
    return True


async def delete_expired(db: Executor, root: Path, *, now: datetime.datetime, batch: int,
                         bucket: S3Recordings | None = None) -> int:
    """Delete up to ``batch`` recordings past their retention at ``now``; returns how many."""
    deleted = 0
    for call_id in await records.expired(db, now, batch):
        deleted += await delete(db, root, None, call_id, by=None, bucket=bucket)
    return deleted


class RecordingRetention:
    """The `media.recordings_retention` handler: recordings older than their agent's `retentionDays` at the due time."""

    def __init__(self, pool: asyncpg.Pool, root: Path, batch: int, bucket: S3Recordings | None = None) -> None:
        self._pool = pool
        self._root = root
        self._batch = batch
        self._bucket = bucket

    async def __call__(self, job: Job) -> None:
        due = datetime.datetime.fromisoformat(str(job.payload["due"]))
        await delete_expired(self._pool, self._root, now=due, batch=self._batch, bucket=self._bucket)
