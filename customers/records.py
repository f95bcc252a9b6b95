"""SQL of `customers` and `customer_agent_assignments`: a business's clients and the agents each may see.

Every function takes the business id and matches on it, so another business's customer is
simply not found. Disabling keeps the row (tickets and history name it) but revokes its
sessions and unused links in the same transaction, so a session open elsewhere ends at its
next request.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from typing import Literal

import asyncpg

from customers.errors import AgentNotFound, CustomerExists, CustomerNotFound
from storage.executor import Executor
from storage.transactions import transaction

Status = Literal["invited", "active", "disabled"]


@dataclasses.dataclass(frozen=True)
class Customer:
    id: uuid.UUID
    business_id: uuid.UUID
    email: str
    full_name: str
    company_name: str | None
    status: Status
    weekly_summary_enabled: bool
    last_login: datetime.datetime | None
    created_at: datetime.datetime
    agent_ids: tuple[uuid.UUID, ...]


_SELECT = (
    "SELECT c.id, c.business_id, c.email, c.full_name, c.company_name, c.status, c.weekly_summary_enabled,"
    " c.last_login, c.created_at, coalesce((SELECT array_agg(a.agent_id ORDER BY a.created_at, a.agent_id)"
    " FROM customer_agent_assignments a JOIN agents g ON g.id = a.agent_id AND g.deleted_at IS NULL"
    " WHERE a.customer_id = c.id), '{}') AS agent_ids FROM customers c"
)


def _customer(row: asyncpg.Record) -> Customer:
    values = dict(row)
    values["agent_ids"] = tuple(values["agent_ids"])
    return Customer(**values)


async def _check_agents(conn: Executor, business_id: uuid.UUID, agent_ids: Sequence[uuid.UUID]) -> None:
    wanted = set(agent_ids)
    found = await conn.fetchval(
        "SELECT count(*) FROM agents WHERE business_id = $1 AND id = ANY($2::uuid[]) AND deleted_at IS NULL",
        business_id, list(wanted))
    if found != len(wanted):
        raise AgentNotFound("agent not found")


async def create(db: Executor, business_id: uuid.UUID, *, email: str, full_name: str, company_name: str | None,
                 agent_ids: Sequence[uuid.UUID], now: datetime.datetime) -> Customer:
    """Add an invited customer with its agents (the address lower-cased).

    Raises:
        AgentNotFound: an agent is not one of the business's live agents (checked first: nothing written).
        CustomerExists: the business already has this address.
    """
    async with transaction(db) as conn:
        await _check_agents(conn, business_id, agent_ids)
        customer_id = await conn.fetchval(
            "INSERT INTO customers (business_id, email, full_name, company_name, created_at, updated_at)"
            " VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT (business_id, email) DO NOTHING RETURNING id",
            business_id, email.lower(), full_name, company_name, now)
        if customer_id is None:
            raise CustomerExists("a customer with this email already exists")
        await conn.executemany(
            "INSERT INTO customer_agent_assignments (customer_id, agent_id, created_at) VALUES ($1, $2, $3)",
            [(customer_id, agent_id, now) for agent_id in dict.fromkeys(agent_ids)])
        found = await find(conn, business_id, customer_id)
        assert found is not None
        return found


async def find(db: Executor, business_id: uuid.UUID, customer_id: uuid.UUID) -> Customer | None:
    row = await db.fetchrow(f"{_SELECT} WHERE c.business_id = $1 AND c.id = $2", business_id, customer_id)
    return None if row is None else _customer(row)


async def in_live_session(db: Executor, session_id: uuid.UUID, customer_id: uuid.UUID,
                          business_id: uuid.UUID) -> Customer | None:
    """The customer of a session that is neither revoked nor past its end, unless the customer is disabled."""
    row = await db.fetchrow(
        f"{_SELECT} JOIN customer_sessions s ON s.customer_id = c.id WHERE s.id = $1 AND c.id = $2"
        " AND c.business_id = $3 AND s.revoked_at IS NULL AND s.expires_at > now() AND c.status <> 'disabled'",
        session_id, customer_id, business_id)
    return None if row is None else _customer(row)


async def get(db: Executor, business_id: uuid.UUID, customer_id: uuid.UUID) -> Customer:
    """Raises: CustomerNotFound."""
    found = await find(db, business_id, customer_id)
    if found is None:
        raise CustomerNotFound("customer not found")
    return found


async def list_customers(db: Executor, business_id: uuid.UUID) -> list[Customer]:
    rows = await db.fetch(f"{_SELECT} WHERE c.business_id = $1 ORDER BY c.created_at DESC, c.id", business_id)
    return [_customer(r) for r in rows]


async def update(db: Executor, business_id: uuid.UUID, customer_id: uuid.UUID, *, full_name: str | None,
                 company_name: str | None, clear_company: bool, weekly_summary_enabled: bool | None,
                 now: datetime.datetime) -> Customer:
    """Change the fields given (None leaves one as it is; `clear_company` empties the company).

    Raises:
        CustomerNotFound.
    """
    async with transaction(db) as conn:
        updated = await conn.fetchval(
            "UPDATE customers SET full_name = coalesce($3, full_name),"
            " company_name = CASE WHEN $5 THEN NULL ELSE coalesce($4, company_name) END,"
            " weekly_summary_enabled = coalesce($6, weekly_summary_enabled), updated_at = $7"
            " WHERE business_id = $1 AND id = $2 RETURNING id",
            business_id, customer_id, full_name, company_name, clear_company, weekly_summary_enabled, now)
        if updated is None:
            raise CustomerNotFound("customer not found")
        return await get(conn, business_id, customer_id)


async def disable(db: Executor, business_id: uuid.UUID, customer_id: uuid.UUID, *,
                  now: datetime.datetime) -> Customer:
    """Disable the customer and revoke its sessions and unused links, keeping its rows.

    Raises:
        CustomerNotFound.
    """
    async with transaction(db) as conn:
        updated = await conn.fetchval(
            "UPDATE customers SET status = 'disabled', updated_at = $3 WHERE business_id = $1 AND id = $2"
            " RETURNING id", business_id, customer_id, now)
        if updated is None:
            raise CustomerNotFound("customer not found")
        await conn.execute("UPDATE customer_sessions SET revoked_at = $2 WHERE customer_id = $1"
                           " AND revoked_at IS NULL", customer_id, now)
        await conn.execute("UPDATE customer_login_links SET revoked_at = $2 WHERE customer_id = $1"
                           " AND used_at IS NULL AND revoked_at IS NULL", customer_id, now)
        return await get(conn, business_id, customer_id)


async def set_agents(db: Executor, business_id: uuid.UUID, customer_id: uuid.UUID,
                     agent_ids: Sequence[uuid.UUID], *, now: datetime.datetime) -> Customer:
    """Replace the customer's agents; a removed agent is out of its portal at the next request.

    Raises:
        CustomerNotFound, AgentNotFound (nothing changed).
    """
    async with transaction(db) as conn:
        locked = await conn.fetchval("SELECT id FROM customers WHERE business_id = $1 AND id = $2 FOR UPDATE",
                                     business_id, customer_id)
        if locked is None:
            raise CustomerNotFound("customer not found")
        await _check_agents(conn, business_id, agent_ids)
        await conn.execute("DELETE FROM customer_agent_assignments WHERE customer_id = $1"
                           " AND agent_id <> ALL($2::uuid[])", customer_id, list(agent_ids))
        await conn.executemany(
            "INSERT INTO customer_agent_assignments (customer_id, agent_id, created_at) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING", [(customer_id, agent_id, now) for agent_id in dict.fromkeys(agent_ids)])
        await conn.execute("UPDATE customers SET updated_at = $2 WHERE id = $1", customer_id, now)
        return await get(conn, business_id, customer_id)
