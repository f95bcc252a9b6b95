"""The form routes' probes for the tenant enumeration test, and B's form they name."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

Build = Callable[[uuid.UUID], tuple[str, dict[str, str] | None, dict[str, Any] | None]]

B_FORM = uuid.UUID("00000000-0000-4000-8000-00000000b0f0")
_FIELDS = '[{"id": "name", "label": "Name", "type": "text", "required": true}]'


async def seed_forms(pool: asyncpg.Pool, b: uuid.UUID, b_agent: uuid.UUID) -> None:
    """B's active form, with a submission."""
    await pool.execute("INSERT INTO forms (id, business_id, agent_id, name, slug, fields) VALUES ($1, $2, $3,"
                       " 'Quote', 'quote', $4::text::jsonb)", B_FORM, b, b_agent, _FIELDS)
    await pool.execute("INSERT INTO form_submissions (form_id, business_id, agent_id, channel, form_snapshot, data)"
                       " VALUES ($1, $2, $3, 'widget', '{}', '{\"name\": \"Bea\"}')", B_FORM, b, b_agent)


def _path(template: str, body: dict[str, Any] | None = None) -> Build:
    return lambda x: (template.format(id=x), None, body)


def form_probes(b_agent: uuid.UUID) -> dict[str, list[tuple[str, uuid.UUID, Build]]]:
    """Route -> (label, B's id, request builder): B's agent and B's form."""
    body = {"name": "Intruder", "fields": [{"id": "name", "label": "Name", "type": "text"}]}
    return {
        "POST /api/agents/{agentId}/forms": [("path agent", b_agent, _path("/api/agents/{id}/forms", body))],
        "GET /api/agents/{agentId}/forms": [("path agent", b_agent, _path("/api/agents/{id}/forms"))],
        "GET /api/forms/{formId}": [("path form", B_FORM, _path("/api/forms/{id}"))],
        "PATCH /api/forms/{formId}": [("path form", B_FORM, _path("/api/forms/{id}", {"title": "Mine now"}))],
        "DELETE /api/forms/{formId}": [("path form", B_FORM, _path("/api/forms/{id}"))],
        "GET /api/forms/{formId}/submissions": [("path form", B_FORM, _path("/api/forms/{id}/submissions"))],
    }
