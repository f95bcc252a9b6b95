"""The action routes' probes for the tenant enumeration test, and B's action they name."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

Build = Callable[[uuid.UUID], tuple[str, dict[str, str] | None, dict[str, Any] | None]]

B_ACTION = uuid.UUID("00000000-0000-4000-8000-00000000b0a0")


async def seed_actions(pool: asyncpg.Pool, b: uuid.UUID, b_agent: uuid.UUID) -> None:
    """B's active action, with a run."""
    await pool.execute("INSERT INTO actions (id, business_id, agent_id, type, name, parameters, configuration,"
                       " signing_secret, created_at, updated_at) VALUES ($1, $2, $3, 'webhook_call', 'push_lead',"
                       " '{\"type\": \"object\", \"properties\": {}}', '{\"url\": \"https://b.example.com/hook\"}',"
                       " 'whsec_AAAA', now(), now())", B_ACTION, b, b_agent)
    await pool.execute("INSERT INTO action_executions (business_id, action_id, channel, idempotency_key, input,"
                       " status, started_at) VALUES ($1, $2, 'api', 'api:seed', '{}', 'succeeded', now())",
                       b, B_ACTION)


def _path(template: str, body: dict[str, Any] | None = None) -> Build:
    return lambda x: (template.format(id=x), None, body)


def action_probes(b_agent: uuid.UUID) -> dict[str, list[tuple[str, uuid.UUID, Build]]]:
    """Route -> (label, B's id, request builder): B's agent and B's action."""
    body = {"type": "webhook_call", "name": "intruder", "configuration": {"url": "https://b.example.com/x"}}
    return {
        "POST /api/agents/{agentId}/actions": [("path agent", b_agent, _path("/api/agents/{id}/actions", body))],
        "GET /api/agents/{agentId}/actions": [("path agent", b_agent, _path("/api/agents/{id}/actions"))],
        "GET /api/actions/{actionId}": [("path action", B_ACTION, _path("/api/actions/{id}"))],
        "PATCH /api/actions/{actionId}": [("path action", B_ACTION, _path("/api/actions/{id}",
                                                                          {"description": "Mine now"}))],
        "DELETE /api/actions/{actionId}": [("path action", B_ACTION, _path("/api/actions/{id}"))],
        "GET /api/actions/{actionId}/executions": [("path action", B_ACTION, _path("/api/actions/{id}/executions"))],
        "POST /api/actions/execute": [("body actionId", B_ACTION, lambda x: (
            "/api/actions/execute", None, {"actionId": str(x), "inputData": {}}))],
    }
