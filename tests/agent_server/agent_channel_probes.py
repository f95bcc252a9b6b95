"""The probes of the dashboard's voice and WhatsApp calls (aliases of the agent routes, and the provider checks)
for the tenant enumeration test: B's agent in the path or the body, B's business in the query."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

Build = Callable[[uuid.UUID], tuple[str, dict[str, str] | None, dict[str, Any] | None]]


def _path(template: str, body: dict[str, Any] | None = None) -> Build:
    return lambda x: (template.format(id=x), None, body)


def _query(path: str) -> Build:
    return lambda x: (path, {"businessId": str(x)}, None)


def _body(path: str) -> Build:
    return lambda x: (path, None, {"agent_id": str(x)})


def agent_channel_probes(b_business: uuid.UUID, b_agent: uuid.UUID) -> dict[str, list[tuple[str, uuid.UUID, Build]]]:
    """Route -> (label, B's id, request builder)."""
    return {
        "PATCH /api/voice/{agentId}": [("path agent", b_agent, _path("/api/voice/{id}", {"name": "Mine now"}))],
        "POST /api/voice/sync": [("query businessId", b_business, _query("/api/voice/sync"))],
        "GET /api/whatsapp/{agentId}": [("path agent", b_agent, _path("/api/whatsapp/{id}"))],
        "PATCH /api/whatsapp/{agentId}": [("path agent", b_agent, _path("/api/whatsapp/{id}", {"first_message": "Hi"}))],
        "POST /api/whatsapp/sync": [("query businessId", b_business, _query("/api/whatsapp/sync"))],
        "POST /api/agents/{agentId}/validate": [("path agent", b_agent, _path("/api/agents/{id}/validate"))],
        "POST /api/voice/validate": [("body agent_id", b_agent, _body("/api/voice/validate"))],
        "POST /api/whatsapp/validate": [("body agent_id", b_agent, _body("/api/whatsapp/validate"))],
    }
