"""Request and response shapes of the action routes (the create body is the domain's `ActionSpec`)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from agent_server.api.shapes import Instant, Query, Uuid
from automations.action_model import Description, Filler, ResponseBytes, TimeoutMs, ToolName, TypeName


class ActionPatch(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """Only the fields sent change; a configuration without `headers` keeps the saved ones."""

    type: TypeName | msgspec.UnsetType = msgspec.UNSET
    name: ToolName | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    parameters: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    configuration: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    timeout_ms: TimeoutMs | msgspec.UnsetType = msgspec.UNSET
    max_response_bytes: ResponseBytes | msgspec.UnsetType = msgspec.UNSET
    voice_filler: Filler | None | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class ActionOut(msgspec.Struct, rename="camel", kw_only=True):
    """An action as the dashboard shows it: a webhook's headers by name only; `signingSecret` only when created."""

    id: Uuid
    agent_id: Uuid
    type: str
    name: str
    description: str
    parameters: dict[str, Any]
    configuration: Annotated[dict[str, Any], msgspec.Meta(
        description="per type; webhook_call/custom_tool show `headerNames`, never the headers' values")]
    timeout_ms: int
    max_response_bytes: int
    voice_filler: str | None
    is_active: bool
    created_at: Instant
    updated_at: Instant
    signing_secret: Annotated[str, msgspec.Meta(
        description="whsec_…: verifies this action's calls (Standard Webhooks); shown once")] | msgspec.UnsetType = (
        msgspec.UNSET)


class ActionList(msgspec.Struct):
    actions: list[ActionOut]


class ActionExecute(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=True):
    """Run an action as a tool call would; snake_case keys (the dashboard's old body) are read the same."""

    action_id: Uuid
    input_data: dict[str, Any] = {}
    conversation_id: Uuid | None = None


class ActionExecuted(msgspec.Struct, rename="camel", kw_only=True):
    success: bool
    result: Any
    error: str | None
    duration_ms: int
    execution_id: Uuid


class ExecutionOut(msgspec.Struct, rename="camel", kw_only=True):
    id: Uuid
    action_id: Uuid
    conversation_id: Uuid | None
    channel: str
    status: Annotated[str, msgspec.Meta(description="running, succeeded, failed or timed_out")]
    input: dict[str, Any]
    output: Any
    error: str | None
    duration_ms: int | None
    started_at: Instant
    finished_at: Instant | None


class ExecutionPage(msgspec.Struct, rename="camel", kw_only=True):
    executions: list[ExecutionOut]
    next_cursor: str | None


class ExecutionQuery(Query):
    limit: Annotated[int, msgspec.Meta(ge=1, le=200, description="at most this many, newest first")] = 50
    cursor: Annotated[str, msgspec.Meta(max_length=200, description="`nextCursor` of the previous page")] | None = None
