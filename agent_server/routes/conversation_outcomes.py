"""Ending a conversation by request, its analysis, and a lead extracted on demand.

`POST /api/chat/conversations/{id}/end` (and the dashboard's older `POST /api/chat/detect-end`)
end a conversation once and queue its analysis: a widget chat by its id, an SMS/WhatsApp
stretch by its id or any of its messages' ids (a text thread has no conversation row: each
silence-separated stretch is one conversation), a finished call not ended yet by its id (a live
call ends at hang-up: 409); `GET /api/conversations/{id}/analysis`
shows the analysis of any ended conversation (a widget chat, an SMS stretch, a call);
`POST /api/leads/extract` analyses one now. A conversation of another business answers
exactly as a missing one.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from aiohttp import web

from agent_server import auth, outcome_jobs, tenants
from agent_server.api.decoding import read_body
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Body, Instant, Uuid, as_uuid
from agent_server.errors import ApiError, NotFound
from agent_server.state import POOL, SETTINGS
from agent_server.validation import path_uuid
from media.llm.base import LlmError
from outcomes import ending, lead_records, records
from outcomes.analysis import Analyser
from outcomes.records import Outcome

ANALYSER = web.AppKey("outcome_analyser", Analyser)
_MISSING = "no such conversation"


class EndBody(Body):
    conversation_id: Uuid


class ExtractBody(Body):
    """`force` analyses again a conversation that already was."""

    conversation_id: Uuid
    force: bool = False


class Ended(msgspec.Struct, rename="camel", kw_only=True):
    """`ended` is false when the conversation had already ended (its `endedAt` is kept).

    `conversationId` is the id its analysis is under: for an SMS/WhatsApp stretch named by one of
    its messages, the stretch's own id.
    """

    conversation_id: Uuid
    ended: bool
    ended_at: Instant
    analysis_status: str


class Analysis(msgspec.Struct, rename="camel", kw_only=True):
    """The checked analysis: `result` when `status` is analysed; `rawOutput` kept when it failed."""

    conversation_id: Uuid
    channel: str
    status: str
    ended_at: Instant
    end_reason: str
    analysed_at: Instant | None
    result: dict[str, Any] | None
    error: str | None
    raw_output: str | None
    lead: dict[str, Any] | None


async def _business_outcome_scope(request: web.Request, conversation_id: uuid.UUID) -> uuid.UUID:
    """The conversation's business, if the caller belongs to it (404 as for a missing one otherwise)."""
    business_id = await records.business_of_conversation(request.app[POOL], conversation_id)
    if business_id is None:
        await auth.current_user(request)
        raise NotFound(_MISSING)
    try:
        await auth.business_for(request, business_id)
    except NotFound:
        raise NotFound(_MISSING) from None
    return business_id


async def _end(request: web.Request, conversation_id: uuid.UUID) -> web.Response:
    pool = request.app[POOL]
    now = datetime.datetime.now(datetime.UTC)
    business_id = await records.business_of_conversation(pool, conversation_id)
    if business_id is not None:
        await _business_outcome_scope(request, conversation_id)
        ended = await ending.end_widget(pool, conversation_id, reason="request", now=now)
        if not ended and await records.find(pool, conversation_id) is None:
            if not await _end_finished_call(request, conversation_id, business_id, now):
                raise ApiError(409, "CALL_IN_PROGRESS", "a call ends when it hangs up")
            ended = True
        stretch_or_own_id = conversation_id
    else:
        user_id = await auth.current_user(request)
        businesses = [m.business_id for m in await tenants.memberships_of(pool, user_id)]
        found = await ending.end_sms(pool, conversation_id, businesses, now=now)
        if found is None:
            raise NotFound(_MISSING)
        stretch_or_own_id, ended = found
    outcome = await records.find(pool, stretch_or_own_id)
    assert outcome is not None
    return struct_response(Ended(conversation_id=str(outcome.id), ended=ended, ended_at=outcome.ended_at.isoformat(),
                                 analysis_status=outcome.analysis_status))


async def end_conversation(request: web.Request) -> web.Response:
    return await _end(request, path_uuid(request, "id"))


async def detect_end(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, EndBody)
    return await _end(request, as_uuid(body.conversation_id, "conversationId"))


async def _view(request: web.Request, outcome: Outcome) -> Analysis:
    lead = await lead_records.lead_of(request.app[POOL], outcome.id)
    return Analysis(
        conversation_id=str(outcome.id), channel=outcome.channel, status=outcome.analysis_status,
        ended_at=outcome.ended_at.isoformat(), end_reason=outcome.end_reason,
        analysed_at=outcome.analysed_at.isoformat() if outcome.analysed_at else None, result=outcome.analysis,
        error=outcome.analysis_error, raw_output=outcome.raw_output if outcome.analysis_status != "analysed" else None,
        lead=None if lead is None else lead_view(lead))


def lead_view(lead: lead_records.LeadRow) -> dict[str, Any]:
    return {"id": str(lead.id), "conversationId": str(lead.conversation_id), "channel": lead.channel,
            "contactId": str(lead.contact_id), "name": lead.name, "phone": lead.phone, "email": lead.email,
            "company": lead.company, "intent": lead.intent, "confidence": lead.confidence, "reason": lead.reason,
            "fromChannelId": lead.from_channel_id, "customFields": lead.custom_fields,
            "createdAt": lead.created_at.isoformat(),
            "contactConversationIds": [str(c) for c in lead.contact_conversations]}


async def get_analysis(request: web.Request) -> web.Response:
    conversation_id = path_uuid(request, "id")
    await _business_outcome_scope(request, conversation_id)
    outcome = await records.find(request.app[POOL], conversation_id)
    if outcome is None:
        raise ApiError(409, "CONVERSATION_NOT_ENDED", "the conversation has not ended yet")
    return struct_response(await _view(request, outcome))


async def extract_lead(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, ExtractBody)
    conversation_id = as_uuid(body.conversation_id, "conversationId")
    business_id = await _business_outcome_scope(request, conversation_id)
    pool = request.app[POOL]
    now = datetime.datetime.now(datetime.UTC)
    outcome = await records.find(pool, conversation_id)
    if outcome is None:
        ended = (await ending.end_widget(pool, conversation_id, reason="request", now=now)
                 or await _end_finished_call(request, conversation_id, business_id, now))
        if not ended:
            raise ApiError(409, "CONVERSATION_NOT_ENDED", "the call is still live")
        outcome = await records.find(pool, conversation_id)
        assert outcome is not None
    if outcome.analysis_status == "analysed" and not body.force:
        return struct_response(await _view(request, outcome))
    try:
        analysed = await request.app[ANALYSER].analyse_one(conversation_id, force=body.force)
    except LlmError:
        raise ApiError(503, "LLM_UNAVAILABLE", "the model can't analyse right now; the sweep will retry") from None
    if analysed is None:
        raise ApiError(409, "ANALYSIS_RUNNING", "this conversation is being analysed; ask again shortly")
    return struct_response(await _view(request, analysed))


async def _end_finished_call(request: web.Request, call_id: uuid.UUID, business_id: uuid.UUID,
                             now: datetime.datetime) -> bool:
    finished = await request.app[POOL].fetchval("SELECT ended_at IS NOT NULL FROM calls WHERE id = $1", call_id)
    return bool(finished) and await ending.end_call(request.app[POOL], call_id, business_id, now=now)


async def _analyser(app: web.Application) -> AsyncIterator[None]:
    async with outcome_jobs.analyser_for(app[SETTINGS], app[POOL]) as analyser:
        app[ANALYSER] = analyser
        yield


ROUTES = (
    Route("POST", "/api/chat/conversations/{id}/end", end_conversation,
          "End a widget conversation or SMS/WhatsApp stretch now and queue its analysis (once)", "conversations",
          "jwt", (Reply(200, Ended),), errors=(404, 409)),
    Route("POST", "/api/chat/detect-end", detect_end, "End a conversation (the older name of .../end)",
          "conversations", "jwt", (Reply(200, Ended),), errors=(404, 409), body=EndBody),
    Route("GET", "/api/conversations/{id}/analysis", get_analysis,
          "The analysis of an ended conversation (widget, SMS, WhatsApp or call)", "conversations", "jwt",
          (Reply(200, Analysis),), errors=(404, 409)),
    Route("POST", "/api/leads/extract", extract_lead,
          "Analyse one conversation now (with force, again) and return its analysis and lead", "leads", "jwt",
          (Reply(200, Analysis),), errors=(404, 409, 503), body=ExtractBody),
)


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_analyser)
    register(app, ROUTES)
