"""A visitor submits a form (public, Origin-checked like the widget's messages); the dashboard pages its submissions.

`POST /api/forms/submit` names the form in its body, so the agent (and with it the origins
allowed to post) is known only after reading it: the body is capped at 64 KB before it is read,
then the Origin is checked exactly as `POST /api/widget/{id}/message` checks it, then the
per-IP limit (10 a minute, the shared PostgreSQL limiter), then the answers. The preflight can't
know the form, so it allows the asking origin; the POST itself is what refuses.
The dashboard's older snake_case body (`form_id`, `submitted_data`, ...) is read the same.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import msgspec
from aiohttp import web

from agent_server import agents
from agent_server.api.decoding import decode_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import as_optional_uuid, as_uuid
from agent_server.errors import ApiError, NotFound, ValidationError
from agent_server.message_limits import LIMITS_POOL
from agent_server.metrics import METRICS
from agent_server.routes.form_shapes import (
    SUBMIT_MAX_BYTES,
    FormSubmit,
    SubmissionOut,
    SubmissionPage,
    SubmissionQuery,
    Submitted,
)
from agent_server.routes.forms import own_form
from agent_server.routes.widget import checked_origin, cors, visitor_ip
from agent_server.routes.widget_shapes import ORIGIN
from agent_server.state import POOL
from agent_server.validation import path_uuid
from automations import form_store
from automations.form_schema import compile_form, region_of
from automations.form_submissions import DEFAULT_SUCCESS_MESSAGE, Submission, page, save
from conversations import records, rate_limits
from conversations.gcra import Limit
from messaging import cursor

SUBMITS_PER_IP_PER_MINUTE = 10
_SNAKE = {"form_id": "formId", "submitted_data": "submittedData", "conversation_id": "conversationId",
          "visitor_id": "visitorId", "terms_accepted": "termsAccepted"}


async def _read_capped(request: web.Request) -> bytes:
    """The body, refused with 413 past SUBMIT_MAX_BYTES without reading more than that."""
    if request.content_length is not None and request.content_length > SUBMIT_MAX_BYTES:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"a form submission is at most {SUBMIT_MAX_BYTES} bytes")
    raw = await request.content.read(SUBMIT_MAX_BYTES + 1)
    if len(raw) > SUBMIT_MAX_BYTES:
        raise ApiError(413, "PAYLOAD_TOO_LARGE", f"a form submission is at most {SUBMIT_MAX_BYTES} bytes")
    return raw


def _decoded(raw: bytes) -> FormSubmit:
    """The body as FormSubmit, its snake_case keys (the dashboard's) read as the camelCase ones."""
    try:
        loose: Any = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        loose = None
    if isinstance(loose, dict) and any(k in _SNAKE for k in loose):
        raw = msgspec.json.encode({_SNAKE.get(k, k): v for k, v in loose.items()})
    return decode_body(raw, FormSubmit)


async def _within_limit(request: web.Request) -> None:
    limit = Limit(per_minute=SUBMITS_PER_IP_PER_MINUTE, burst=SUBMITS_PER_IP_PER_MINUTE)
    if not await rate_limits.allow(request.app[LIMITS_POOL], rate_limits.Scope.FORM_IP, visitor_ip(request), limit):
        request.app[METRICS].rate_limited.labels(rate_limits.Scope.FORM_IP.value).inc()
        raise ApiError(429, "RATE_LIMITED", f"at most {SUBMITS_PER_IP_PER_MINUTE} submissions a minute")


async def submit_form(request: web.Request) -> web.StreamResponse:
    body = _decoded(await _read_capped(request))
    pool = request.app[POOL]
    form = await form_store.get(pool, as_uuid(body.form_id, "formId"))
    agent = None if form is None else await agents.get_agent(pool, form.agent_id)
    if form is None or not form.is_active or agent is None or not agent.active:
        raise NotFound("no such form")
    origin = checked_origin(request, agent, required=True)
    await _within_limit(request)
    conversation_id = as_optional_uuid(body.conversation_id, "conversationId")
    if conversation_id is not None and not await records.conversation_exists(pool, conversation_id, agent.id):
        raise ValidationError("conversationId", "is not a conversation of this form's agent")
    if form.require_terms_acceptance and not body.terms_accepted:
        raise ApiError(422, "TERMS_NOT_ACCEPTED", "termsAccepted: the terms must be accepted", field="termsAccepted")
    compiled = compile_form(form.slug, form.description, form.fields, region=region_of(agent.language))
    data, errors = compiled.check(body.submitted_data)
    if errors:
        raise ApiError(422, "INVALID_FIELDS", "; ".join(f"{e.field}: {e.message}" for e in errors[:5]),
                       field="submittedData", fields=[{"field": e.field, "code": e.code, "message": e.message}
                                                      for e in errors])
    saved = await save(pool, form, data, channel="widget", conversation_id=conversation_id,
                       visitor_id=body.visitor_id, terms_accepted=body.terms_accepted,
                       now=datetime.datetime.now(datetime.UTC))
    reply = Submitted(success=True, submission_id=str(saved.submission.id),
                      message=form.success_message or DEFAULT_SUCCESS_MESSAGE, webhooks_queued=saved.webhooks_queued)
    return cors(struct_response(reply, status=201), origin)


async def submit_preflight(request: web.Request) -> web.StreamResponse:
    response = web.Response(status=204, headers={"Access-Control-Allow-Methods": "POST",
                                                 "Access-Control-Allow-Headers": "Content-Type",
                                                 "Access-Control-Max-Age": "600"})
    return cors(response, request.headers.get("Origin"))


def _cursor(submission: Submission) -> str:
    return cursor.encode(submission.created_at, submission.id)


def _after(raw: str | None) -> tuple[datetime.datetime, uuid.UUID] | None:
    if raw is None:
        return None
    try:
        return cursor.decode(raw)
    except cursor.BadCursor:
        raise ValidationError("cursor", "is not a cursor of this list") from None


async def list_submissions(request: web.Request) -> web.Response:
    form = await own_form(request, path_uuid(request, "formId"))
    query = read_query(request, SubmissionQuery)
    found = await page(request.app[POOL], form.id, limit=query.limit + 1, before=_after(query.cursor))
    shown = found[:query.limit]
    return struct_response(SubmissionPage(
        submissions=[SubmissionOut(id=str(s.id), form_id=str(s.form_id), channel=s.channel,
                                   conversation_id=None if s.conversation_id is None else str(s.conversation_id),
                                   visitor_id=s.visitor_id, data=s.data, terms_accepted=s.terms_accepted,
                                   created_at=s.created_at.isoformat()) for s in shown],
        next_cursor=_cursor(shown[-1]) if len(found) > query.limit else None))


ROUTES = (
    Route("POST", "/api/forms/submit", submit_form, "A visitor's answers to a form", "widget", "public",
          (Reply(201, Submitted, description="Submitted"),), errors=(403, 404, 413, 422, 429), body=FormSubmit,
          headers=(ORIGIN,)),
    Route("OPTIONS", "/api/forms/submit", submit_preflight, "CORS preflight of the submit route", "widget",
          "public", (Reply(204, description="Allowed"),)),
    Route("GET", "/api/forms/{formId}/submissions", list_submissions, "A form's submissions, newest first",
          "forms", "jwt", (Reply(200, SubmissionPage),), errors=(404, 422), query=SubmissionQuery),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
