"""`POST /api/actions/execute` runs an action exactly as a tool call would; `GET /api/actions/{id}/executions` lists runs.

The run goes through `automations.action_runner.execute`, the conversations' executor too,
with a key of its own (`api:<uuid>`): a run the dashboard asks for twice is two runs. An
inactive action is a 409, arguments its parameters refuse a 422 `INVALID_ARGUMENTS` listing
them (nothing runs, no row), a conversation of another agent a 422. A run that failed (the
receiver's 500, a timeout, a taken slot) is still a 200 with `success: false`: it ran.
The dashboard's older snake_case body (`action_id`, `input_data`, ...) is read the same.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import msgspec
from aiohttp import web

from agent_server.api.decoding import decode_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import as_optional_uuid, as_uuid
from agent_server.errors import ApiError, ValidationError
from agent_server.routes.action_shapes import ActionExecute, ActionExecuted, ExecutionOut, ExecutionPage, ExecutionQuery
from agent_server.routes.actions import ACTION_SERVICES, own_action
from agent_server.state import POOL
from agent_server.validation import path_uuid
from automations import action_executions
from automations.action_executions import Execution
from automations.action_runner import execute
from conversations import records
from messaging import cursor

_SNAKE = {"action_id": "actionId", "input_data": "inputData", "conversation_id": "conversationId"}


def _decoded(raw: bytes) -> ActionExecute:
    """The body as ActionExecute, its snake_case keys read as the camelCase ones."""
    try:
        loose: Any = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        loose = None
    if isinstance(loose, dict) and any(k in _SNAKE for k in loose):
        raw = msgspec.json.encode({_SNAKE.get(k, k): v for k, v in loose.items()})
    return decode_body(raw, ActionExecute)


async def execute_action(request: web.Request) -> web.Response:
    body = _decoded(await request.read())
    action = await own_action(request, as_uuid(body.action_id, "actionId"))
    conversation_id = as_optional_uuid(body.conversation_id, "conversationId")
    if not action.is_active:
        raise ApiError(409, "ACTION_INACTIVE", "the action is inactive: activate it first")
    pool = request.app[POOL]
    if conversation_id is not None and not await records.conversation_exists(pool, conversation_id, action.agent_id):
        raise ValidationError("conversationId", "is not a conversation of this action's agent")
    result = await execute(pool, action, body.input_data, key=f"api:{uuid.uuid4()}", conversation_id=conversation_id,
                           channel="api", services=request.app[ACTION_SERVICES])
    if result.errors:
        raise ApiError(422, "INVALID_ARGUMENTS", "; ".join(f"{e.field}: {e.message}" for e in result.errors[:5]),
                       field="inputData", fields=[{"field": e.field, "code": e.code, "message": e.message}
                                                  for e in result.errors])
    assert result.execution_id is not None
    return struct_response(ActionExecuted(success=result.success, result=result.result, error=result.error,
                                          duration_ms=result.duration_ms, execution_id=str(result.execution_id)))


def _cursor(execution: Execution) -> str:
    return cursor.encode(execution.started_at, execution.id)


def _after(raw: str | None) -> tuple[datetime.datetime, uuid.UUID] | None:
    if raw is None:
        return None
    try:
        return cursor.decode(raw)
    except cursor.BadCursor:
        raise ValidationError("cursor", "is not a cursor of this list") from None


def _iso(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def execution_out(e: Execution) -> ExecutionOut:
    output = e.output.get("result") if isinstance(e.output, dict) else e.output
    return ExecutionOut(id=str(e.id), action_id=str(e.action_id), channel=e.channel, status=e.status,
                        conversation_id=None if e.conversation_id is None else str(e.conversation_id),
                        input=e.input, output=output, error=e.error, duration_ms=e.duration_ms,
                        started_at=e.started_at.isoformat(), finished_at=_iso(e.finished_at))


async def list_action_executions(request: web.Request) -> web.Response:
    action = await own_action(request, path_uuid(request, "actionId"))
    query = read_query(request, ExecutionQuery)
    found = await action_executions.of_action(request.app[POOL], action.id, limit=query.limit + 1,
                                              before=_after(query.cursor))
    shown = found[:query.limit]
    return struct_response(ExecutionPage(executions=[execution_out(e) for e in shown],
                                         next_cursor=_cursor(shown[-1]) if len(found) > query.limit else None))


ROUTES = (
    Route("POST", "/api/actions/execute", execute_action, "Run an action as a tool call would", "actions", "jwt",
          (Reply(200, ActionExecuted),), errors=(404, 409, 422), body=ActionExecute),
    Route("GET", "/api/actions/{actionId}/executions", list_action_executions, "An action's runs, newest first",
          "actions", "jwt", (Reply(200, ExecutionPage),), errors=(404, 422), query=ExecutionQuery),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
