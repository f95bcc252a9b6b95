"""The ticket routes' probes for the tenant enumeration test, and B's ticket and customer they name."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

Build = Callable[[uuid.UUID], tuple[str, dict[str, str] | None, dict[str, Any] | None]]

B_TICKET = uuid.UUID("00000000-0000-4000-8000-00000000b7c1")
B_TICKET_CUSTOMER = uuid.UUID("00000000-0000-4000-8000-00000000b7c2")


async def seed_tickets(pool: asyncpg.Pool, b: uuid.UUID) -> None:
    """B's customer and an open ticket of B's."""
    await pool.execute("INSERT INTO customers (id, business_id, email, full_name, status) VALUES"
                       " ($1, $2, 'ticket-probe@b.example', 'Bea', 'active')", B_TICKET_CUSTOMER, b)
    await pool.execute(
        "INSERT INTO support_tickets (id, business_id, number, customer_id, subject, description, source,"
        " message_id, created_at, updated_at, last_activity_at) VALUES ($1, $2, 1001, $3, 'B''s oven', '',"
        " 'dashboard', '<probe.b7c1@agent.example>', now(), now(), now())", B_TICKET, b, B_TICKET_CUSTOMER)


def _body(path: str, make: Callable[[str], dict[str, Any]]) -> Build:
    return lambda x: (path, None, make(str(x)))


def _ticket(suffix: str = "", body: dict[str, Any] | None = None) -> Build:
    return lambda x: (f"/api/tickets/{x}{suffix}", None, body)


def ticket_probes(business: uuid.UUID, agent: uuid.UUID) -> dict[str, list[tuple[str, uuid.UUID, Build]]]:
    """Route -> (label, B's id, request builder), for business B's id and B's agent."""
    create = "/api/customers/tickets"
    return {
        "POST /api/customers/tickets": [
            ("body business_id", business, _body(create, lambda x: {"business_id": x, "subject": "Hi"})),
            ("body customer_id", B_TICKET_CUSTOMER, _body(create, lambda x: {"customer_id": x, "subject": "Hi"})),
            ("body chatbot_id", agent, _body(create, lambda x: {"chatbot_id": x, "subject": "Hi"}))],
        "GET /api/tickets": [
            ("query businessId", business, lambda x: ("/api/tickets", {"businessId": str(x)}, None)),
            ("query agentId", agent, lambda x: ("/api/tickets", {"agentId": str(x)}, None))],
        "GET /api/tickets/{id}": [("path ticket", B_TICKET, _ticket())],
        "PATCH /api/tickets/{id}": [("path ticket", B_TICKET, _ticket(body={"status": "resolved"}))],
        "POST /api/tickets/{id}/messages": [("path ticket", B_TICKET, _ticket("/messages", {"content": "Mine now"}))],
    }
