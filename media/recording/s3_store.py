"""Recordings kept in an S3 bucket (AWS or any S3-compatible store), through aiobotocore.

A call is always recorded to a local file first (the tap writes a second at a time and
patches the header at the end, which an object store can't do); the `media.recording_upload`
job then puts the finished file in the bucket under the same key and removes the local copy.
A client is opened per operation: uploads, presigned URLs and deletions are a few per call,
and a long-lived client would hold connections nobody uses between them. The clients share one
botocore session, whose first client loads botocore's S3 model: about 250 ms of CPU on the
event loop that carries calls, so `warm` pays it at start-up (a session per operation paid
120-150 ms every time, stalling every live call mid-teardown of the recorded one).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from jobs.queue import Job
from media.config import RecordingsConfig
from media.recording import records

UPLOAD_KIND = "media.recording_upload"


class S3Recordings:
    """The bucket `[recordings] s3_bucket` at `s3_endpoint` (empty: AWS), keys from the environment."""

    def __init__(self, config: RecordingsConfig) -> None:
        self._config = config
        self._session = get_session()

    async def warm(self) -> None:
        """Load the session's S3 model now, before any call is live (a client opened and closed)."""
        async with self._client():
            pass

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[Any]:
        config = self._config
        async with self._session.create_client(
                "s3", region_name=config.s3_region, endpoint_url=config.s3_endpoint or None,
                aws_access_key_id=config.s3_access_key_id or None,
                aws_secret_access_key=config.s3_secret_access_key or None,
                config=AioConfig(signature_version="s3v4")) as client:
            yield client

    async def upload(self, path: Path, key: str) -> None:
        """Put the finished file at ``key`` (read in a thread: a long call's file is megabytes)."""
        body = await asyncio.to_thread(path.read_bytes)
        async with self._client() as client:
            await client.put_object(Bucket=self._config.s3_bucket, Key=key, Body=body, ContentType="audio/wav")

    async def url(self, key: str) -> str:
        """A presigned GET of ``key`` (Signature V4, which every AWS region takes), valid `url_ttl_seconds` (≤ 300)."""
        async with self._client() as client:
            url: str = await client.generate_presigned_url(
                "get_object", Params={"Bucket": self._config.s3_bucket, "Key": key},
                ExpiresIn=self._config.url_ttl_seconds)
            return url

    async def delete(self, key: str) -> None:
        """Remove ``key`` (an absent key is fine: S3 answers 204 either way)."""
        async with self._client() as client:
            await client.delete_object(Bucket=self._config.s3_bucket, Key=key)


class RecordingUpload:
    """The `media.recording_upload` handler: the finished file into the bucket, then the local copy goes.

    Idempotent: a retry after the upload but before the row moved uploads the same bytes again;
    a recording deleted meanwhile has its object removed at once.
    """

    def __init__(self, pool: asyncpg.Pool, root: Path, store: S3Recordings) -> None:
        self._pool = pool
        self._root = root
        self._store = store

    async def __call__(self, job: Job) -> None:
        row = await records.by_call(self._pool, uuid.UUID(str(job.payload["callId"])))
        if row is None or row.backend != "local" or row.status != "ready":
            return
        path = self._root / row.location
        await self._store.upload(path, row.location)
        if await records.uploaded(self._pool, row.call_id):
            await asyncio.to_thread(path.unlink, missing_ok=True)
        else:
            await self._store.delete(row.location)
