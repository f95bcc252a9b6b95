"""Calls for the dashboard: a business's calls page by page, and one call with its transcript and latencies."""

from __future__ import annotations

import base64
import datetime
import statistics
import uuid
from typing import Annotated, Any

import msgspec
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_query
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Instant, Query, Uuid
from agent_server.errors import NotFound, ValidationError
from agent_server.routes.call_recordings import RecordingOut, recording_json
from agent_server.state import POOL
from agent_server.validation import path_uuid
from media import call_records
from media.recording import records as recording_records

MAX_PAGE = 100


class CallsQuery(Query):
    business_id: Uuid | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE)] = 20
    cursor: Annotated[str, msgspec.Meta(description="`nextCursor` of the previous page")] | None = None


class Cost(msgspec.Struct):
    amount: int
    currency: str


class CallOut(msgspec.Struct, rename="camel", kw_only=True):
    """One call as the dashboard lists it."""

    id: Uuid
    call_sid: str
    business_id: Uuid
    number_id: Uuid | None
    agent_id: Uuid | None
    from_: str | None = msgspec.field(name="from")
    to: str | None
    direction: str
    status: str
    started_at: Instant | None
    answered_at: Instant | None
    ended_at: Instant | None
    duration_seconds: int | None
    twilio_duration_seconds: int | None
    end_reason: str | None
    transferred_to: str | None
    cost: Cost | None


class CallPage(msgspec.Struct, rename="camel"):
    calls: list[CallOut]
    next_cursor: str | None


class Turn(msgspec.Struct, rename="camel"):
    seq: int
    role: str
    text: str
    started_at: Instant | None
    interrupted: bool
    server_latency_ms: int | None
    ear_latency_ms: int | None


class LatencySummary(msgspec.Struct, rename="camel"):
    count: int
    median_ms: int
    max_ms: int


class Latency(msgspec.Struct):
    server: LatencySummary | None
    ear: LatencySummary | None


class Fault(msgspec.Struct):
    """A provider fault the call went through (the caller heard a fallback voice, an apology, or a goodbye)."""

    stage: Annotated[str, msgspec.Meta(description="`stt`, `llm` or `tts`")]
    kind: Annotated[str, msgspec.Meta(description="e.g. `http_5xx`, `connection`, `timeout`, `stalled`, `failed`")]
    at: Instant
    detail: str


class CallDetail(CallOut, kw_only=True):
    """A call with its transcript, latency summaries, provider faults and recording (null: not recorded)."""

    transcript: list[Turn]
    latency: Latency
    faults: list[Fault]
    recording: RecordingOut | None


def encode_cursor(started_at: datetime.datetime, call_id: uuid.UUID) -> str:
    """An opaque keyset cursor: the last call's start time and id."""
    return base64.urlsafe_b64encode(f"{started_at.isoformat()}|{call_id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime.datetime, uuid.UUID]:
    """Inverse of :func:`encode_cursor`.

    Raises:
        ValueError: not a cursor from this API.
    """
    try:
        started, _, call_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.datetime.fromisoformat(started), uuid.UUID(call_id)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("not a cursor") from exc


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def call_json(row: dict[str, Any]) -> dict[str, Any]:
    """One call as the dashboard reads it."""
    return {
        "id": str(row["id"]), "callSid": row["call_sid"], "businessId": str(row["business_id"]),
        "numberId": str(row["number_id"]) if row["number_id"] else None,
        "agentId": str(row["agent_id"]) if row["agent_id"] else None,
        "from": row["from_number"], "to": row["to_number"], "direction": row["direction"], "status": row["status"],
        "startedAt": _iso(row["started_at"]), "answeredAt": _iso(row["answered_at"]), "endedAt": _iso(row["ended_at"]),
        "durationSeconds": row["duration_seconds"], "twilioDurationSeconds": row["twilio_duration_seconds"],
        "endReason": row["end_reason"], "transferredTo": row["transferred_to"],
        "cost": ({"amount": int(row["cost_minor"]), "currency": row["cost_currency"]}
                 if row["cost_currency"] is not None else None),
    }


def _latency_summary(values: list[int]) -> dict[str, Any] | None:
    if not values:
        return None
    ordered = sorted(values)
    return {"count": len(ordered), "medianMs": round(statistics.median(ordered)), "maxMs": ordered[-1]}


def turn_json(row: dict[str, Any]) -> dict[str, Any]:
    """One turn of the transcript."""
    return {"seq": row["seq"], "role": row["role"], "text": row["text"], "startedAt": _iso(row["started_at"]),
            "interrupted": row["interrupted"], "serverLatencyMs": row["server_latency_ms"],
            "earLatencyMs": row["ear_latency_ms"]}


async def list_calls(request: web.Request) -> web.Response:
    """GET /api/calls?businessId=&limit=&cursor=: newest first."""
    query = read_query(request, CallsQuery)
    membership = await auth.business_for(request, query.business_id)
    limit = query.limit
    before = None
    if query.cursor:
        try:
            before = decode_cursor(query.cursor)
        except ValueError:
            raise ValidationError("cursor", "is not a cursor from this API") from None
    rows = await call_records.list_calls(request.app[POOL], membership.business_id, limit=limit + 1, before=before)
    page, more = rows[:limit], len(rows) > limit
    return web.json_response({
        "calls": [call_json(r) for r in page],
        "nextCursor": encode_cursor(page[-1]["started_at"], page[-1]["id"]) if more else None,
    })


async def get_call(request: web.Request) -> web.Response:
    """GET /api/calls/{id}: the call, its transcript, latencies and faults (404 for another business's call)."""
    await auth.current_user(request)
    call_id = path_uuid(request, "id")
    pool = request.app[POOL]
    row = await call_records.get_call(pool, call_id)
    if row is None:
        raise NotFound("call not found")
    try:
        await auth.business_for(request, row["business_id"])
    except NotFound:
        raise NotFound("call not found") from None
    turns = await call_records.turns_of(pool, call_id)
    server = [t["server_latency_ms"] for t in turns if t["server_latency_ms"] is not None]
    ear = [t["ear_latency_ms"] for t in turns if t["ear_latency_ms"] is not None]
    body = call_json(row)
    body["transcript"] = [turn_json(t) for t in turns]
    body["latency"] = {"server": _latency_summary(server), "ear": _latency_summary(ear)}
    body["faults"] = [{"stage": f["stage"], "kind": f["kind"], "at": _iso(f["at"]), "detail": f["detail"]}
                      for f in await call_records.faults_of(pool, call_id)]
    body["recording"] = recording_json(await recording_records.get(pool, row["business_id"], call_id))
    return web.json_response(body)


ROUTES = (
    Route("GET", "/api/calls", list_calls, "The business's calls, newest first", "calls", "jwt",
          (Reply(200, CallPage),), errors=(403, 404), query=CallsQuery),
    Route("GET", "/api/calls/{id}", get_call, "One call with its transcript and latencies", "calls", "jwt",
          (Reply(200, CallDetail),), errors=(404,)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
