"""The customer routes' probes for the tenant enumeration test, and the customers of A and B they name.

The portal's routes (auth "customer") take no dashboard token and name no business: each read is
scoped to the session's customer and its assigned agents, walked in tests/customers/.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

Build = Callable[[uuid.UUID], tuple[str, dict[str, str] | None, dict[str, Any] | None]]

A_CUSTOMER = uuid.UUID("00000000-0000-4000-8000-00000000c0a1")
B_CUSTOMER = uuid.UUID("00000000-0000-4000-8000-00000000c0b1")


async def seed_customers(pool: asyncpg.Pool, a: uuid.UUID, b: uuid.UUID) -> None:
    """A customer of A's (to name B's agent for) and one of B's."""
    for customer_id, business, email in ((A_CUSTOMER, a, "probe@a.example"), (B_CUSTOMER, b, "probe@b.example")):
        await pool.execute("INSERT INTO customers (id, business_id, email, full_name, status) VALUES"
                           " ($1, $2, $3, 'Probe', 'active')", customer_id, business, email)


def _customer(suffix: str = "", body: dict[str, Any] | None = None) -> Build:
    return lambda x: (f"/api/customers/{x}{suffix}", None, body)


def customer_probes(business: uuid.UUID, agent: uuid.UUID) -> dict[str, list[tuple[str, uuid.UUID, Build]]]:
    """Route -> (label, B's id, request builder), for business B's id and B's agent."""
    invite = {"email": "new@example.com", "full_name": "New"}
    return {
        "GET /api/customers": [("query businessId", business, lambda x: ("/api/customers", {"businessId": str(x)},
                                                                         None))],
        "POST /api/customers": [
            ("body business_id", business, lambda x: ("/api/customers", None, {**invite, "business_id": str(x)})),
            ("body chatbot_ids", agent, lambda x: ("/api/customers", None, {**invite, "chatbot_ids": [str(x)]})),
            ("body chatbot_id", agent, lambda x: ("/api/customers", None, {**invite, "chatbot_id": str(x)}))],
        "GET /api/customers/{customerId}": [("path customer", B_CUSTOMER, _customer())],
        "PATCH /api/customers/{customerId}": [("path customer", B_CUSTOMER, _customer(body={"full_name": "Mine"}))],
        "DELETE /api/customers/{customerId}": [("path customer", B_CUSTOMER, _customer())],
        "PUT /api/customers/{customerId}/chatbots": [
            ("path customer", B_CUSTOMER, _customer("/chatbots", {"chatbot_ids": []})),
            ("body chatbot_ids", agent, lambda x: (f"/api/customers/{A_CUSTOMER}/chatbots", None,
                                                   {"chatbot_ids": [str(x)]}))],
        "POST /api/customers/login-link": [
            ("body customer_id", B_CUSTOMER, lambda x: ("/api/customers/login-link", None, {"customer_id": str(x)}))],
    }
