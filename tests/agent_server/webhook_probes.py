"""The webhook routes' probes for the tenant enumeration test, and B's endpoint and message they name."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

Build = Callable[[uuid.UUID], tuple[str, dict[str, str] | None, dict[str, Any] | None]]
Probe = tuple[str, uuid.UUID, Build]

B_ENDPOINT = uuid.UUID("00000000-0000-4000-8000-00000000b0e1")
B_WEBHOOK_MESSAGE = uuid.UUID("00000000-0000-4000-8000-00000000b0e2")


async def seed_webhooks(pool: asyncpg.Pool, b: uuid.UUID) -> None:
    """B's endpoint with one failed message (a retry or test of it would queue a job and a send)."""
    now = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)
    await pool.execute("INSERT INTO webhook_endpoints (id, business_id, url, event_types, secret, created_at,"
                       " updated_at) VALUES ($1, $2, 'https://b.example.com/hook', '{form.submitted}',"
                       " 'whsec_AAAA', $3, $3)", B_ENDPOINT, b, now)
    await pool.execute("INSERT INTO webhook_messages (id, business_id, endpoint_id, event_type, body, status,"
                       " attempts, next_attempt_at, created_at, updated_at) VALUES ($1, $2, $3, 'form.submitted',"
                       " '{}', 'failed', 8, $4, $4, $4)", B_WEBHOOK_MESSAGE, b, B_ENDPOINT, now)


def _path(template: str, body: dict[str, Any] | None = None) -> Build:
    return lambda x: (template.format(id=x), None, body)


def webhook_probes(business: uuid.UUID) -> dict[str, list[Probe]]:
    endpoint, message = "/api/webhook-endpoints/{id}", "/api/webhook-messages/{id}"
    return {
        "POST /api/webhook-endpoints": [("body businessId", business, lambda x: (
            "/api/webhook-endpoints", None, {"businessId": str(x), "url": "https://hooks.example.com/in",
                                             "eventTypes": ["form.submitted"]}))],
        "GET /api/webhook-endpoints": [("query businessId", business, lambda x: (
            "/api/webhook-endpoints", {"businessId": str(x)}, None))],
        f"GET {endpoint}": [("path endpoint", B_ENDPOINT, _path(endpoint))],
        f"PATCH {endpoint}": [("path endpoint", B_ENDPOINT, _path(endpoint, {"enabled": False}))],
        f"DELETE {endpoint}": [("path endpoint", B_ENDPOINT, _path(endpoint))],
        f"POST {endpoint}/rotate-secret": [("path endpoint", B_ENDPOINT, _path(f"{endpoint}/rotate-secret"))],
        f"GET {endpoint}/messages": [("path endpoint", B_ENDPOINT, _path(f"{endpoint}/messages"))],
        f"POST {endpoint}/test": [("path endpoint", B_ENDPOINT, _path(f"{endpoint}/test"))],
        f"GET {message}": [("path message", B_WEBHOOK_MESSAGE, _path(message))],
        f"POST {message}/retry": [("path message", B_WEBHOOK_MESSAGE, _path(f"{message}/retry"))],
    }
