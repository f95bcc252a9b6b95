"""Recordings in S3 (issue 22): uploaded by a job after the call, served by a presigned redirect, deleted there."""

from __future__ import annotations

import asyncio
import datetime
from pathlib import Path
from typing import Any

import aiohttp

from media.caller_simulator import Say
from media.recording import retention
from media.recording.s3_store import S3Recordings
from tests.calls.conftest import speech
from tests.fake_s3 import KEY_ID, SECRET, FakeS3, fake_s3

__all__ = ["fake_s3"]

VOICE = {"voice": {"recording": {"enabled": True, "retentionDays": 30}}}


async def _s3_line(line_factory: Any, tmp_path: Path, fake_s3: FakeS3) -> Any:
    line = await line_factory(recordings={"dir": str(tmp_path), "backend": "s3", "s3_endpoint": fake_s3.endpoint,
                                          "s3_bucket": fake_s3.bucket, "s3_access_key_id": KEY_ID,
                                          "s3_secret_access_key": SECRET})
    await line.pool.execute("UPDATE agents SET channels = $2 WHERE id = $1", line.agent_id, VOICE)
    return line


async def _uploaded(line: Any, call_id: Any) -> None:
    for _ in range(200):
        if await line.pool.fetchval("SELECT backend FROM call_recordings WHERE call_id = $1", call_id) == "s3":
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the recording was never uploaded")


async def test_recording_is_uploaded_after_the_call_and_served_by_a_presigned_redirect(
        line_factory: Any, tmp_path: Path, fake_s3: FakeS3) -> None:
    line = await _s3_line(line_factory, tmp_path, fake_s3)
    result = await line.call([Say(speech(0.3))])
    await line.settled()
    call = await line.call_row(result.call_sid)
    key = f"{line.tenant.business_id}/{call['id']}.wav"
    await _uploaded(line, call["id"])
    assert fake_s3.keys() == [key]
    assert not (tmp_path / key).exists()  # the local copy goes once the bucket has it

    headers = {"Authorization": f"Bearer {line.tenant.token}"}
    redirect = await line.client.get(f"/api/calls/{call['id']}/recording", headers=headers, allow_redirects=False)
    assert redirect.status == 302
    location = redirect.headers["Location"]
    assert location.startswith(fake_s3.endpoint) and "X-Amz-Expires=300" in location
    async with aiohttp.ClientSession() as http, http.get(location) as got:
        body = await got.read()
    size = await line.pool.fetchval("SELECT bytes FROM call_recordings WHERE call_id = $1", call["id"])
    assert got.status == 200 and body[:4] == b"RIFF" and len(body) == size

    deleted = await line.client.delete(f"/api/calls/{call['id']}/recording", headers=headers)
    assert deleted.status == 204 and fake_s3.keys() == []


async def test_retention_removes_an_uploaded_recording_from_the_bucket(
        line_factory: Any, tmp_path: Path, fake_s3: FakeS3) -> None:
    line = await _s3_line(line_factory, tmp_path, fake_s3)
    result = await line.call([Say(speech(0.3))])
    await line.settled()
    call = await line.call_row(result.call_sid)
    await _uploaded(line, call["id"])
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=31)
    bucket = S3Recordings(line.settings.recordings)
    assert await retention.delete_expired(line.pool, tmp_path, now=later, batch=10, bucket=bucket) == 1
    assert fake_s3.keys() == []
