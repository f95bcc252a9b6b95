"""A call's recording for the dashboard: the WAV file (with Range), and deleting it.

A call that wasn't recorded, whose recording was deleted, or that belongs to another
business all answer the same 404. A local file is served by aiohttp's `FileResponse`, which
answers `Range` with 206 and streams from disk without reading the file into memory; an
uploaded one is a 302 to a presigned URL of the bucket (valid `[recordings] url_ttl_seconds`,
at most 300 s), which answers `Range` itself.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import msgspec
from aiohttp import web

from agent_server import auth
from agent_server.api.route import Reply, Route, register
from agent_server.errors import NotFound
from agent_server.recording_storage import bucket_for
from agent_server.state import POOL, SETTINGS
from agent_server.validation import path_uuid
from media import call_records
from media.recording import records, retention

_MISSING = "recording not found"


class RecordingOut(msgspec.Struct, rename="camel"):
    """A call's recording as `GET /api/calls/{id}` shows it (`seconds` to the millisecond)."""

    status: str
    seconds: float | None
    bytes: int | None


def recording_json(row: records.RecordingRow | None) -> dict[str, object] | None:
    """The `recording` field of a call: null when the call wasn't recorded."""
    if row is None:
        return None
    return {"status": row.status, "seconds": None if row.duration_ms is None else row.duration_ms / 1000,
            "bytes": row.bytes}


def recordings_root(request: web.Request) -> Path:
    """Where the recordings' files are (the `[recordings] dir`)."""
    return Path(request.app[SETTINGS].recordings.dir)


async def _own_call(request: web.Request) -> tuple[uuid.UUID, auth.Membership]:
    """The path's call and the caller's membership of its business; any miss is the same 404."""
    await auth.current_user(request)
    call_id = path_uuid(request, "id")
    row = await call_records.get_call(request.app[POOL], call_id)
    if row is None:
        raise NotFound(_MISSING)
    try:
        return call_id, await auth.business_for(request, row["business_id"])
    except NotFound:
        raise NotFound(_MISSING) from None


async def get_recording(request: web.Request) -> web.StreamResponse:
    """GET /api/calls/{id}/recording: the stereo WAV (caller left, agent right), Range honoured."""
    call_id, membership = await _own_call(request)
    row = await records.get(request.app[POOL], membership.business_id, call_id)
    if row is None or row.status != "ready":
        raise NotFound(_MISSING)
    bucket = bucket_for(request.app[SETTINGS])
    if row.backend == "s3" and bucket is not None:
        raise web.HTTPFound(await bucket.url(row.location), headers={"Cache-Control": "private, no-store"})
    path = recordings_root(request) / row.location
    if not path.is_file():
        raise NotFound(_MISSING)
    return web.FileResponse(path, headers={"Content-Type": "audio/wav", "Cache-Control": "private, no-store"})


async def delete_recording(request: web.Request) -> web.Response:
    """DELETE /api/calls/{id}/recording: the file goes; who deleted it and when stay on the row."""
    call_id, membership = await _own_call(request)
    if not await retention.delete(request.app[POOL], recordings_root(request), membership.business_id, call_id,
                                  by=membership.user_id, bucket=bucket_for(request.app[SETTINGS])):
        raise NotFound(_MISSING)
    return web.Response(status=204)


ROUTES = (
    Route("GET", "/api/calls/{id}/recording", get_recording, "A call's recording: stereo 8 kHz WAV, caller left",
          "calls", "jwt", (Reply(200, None, media_type="audio/wav"), Reply(206, None, media_type="audio/wav",
                                                                             description="A Range of it"),
                                         Reply(302, description="An uploaded one: its presigned URL")),
          errors=(404,)),
    Route("DELETE", "/api/calls/{id}/recording", delete_recording, "Delete a call's recording (who and when are kept)",
          "calls", "jwt", (Reply(204),), errors=(404,)),
)


async def _warm_bucket(app: web.Application) -> None:
    """The S3 backend's model loaded before the first call, not on the loop mid-call (`S3Recordings.warm`)."""
    bucket = bucket_for(app[SETTINGS])
    if bucket is not None:
        await bucket.warm()


def setup(app: web.Application) -> None:
    register(app, ROUTES)
    app.on_startup.append(_warm_bucket)
