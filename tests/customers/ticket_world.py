"""A business with an agent and a customer, for the ticket tests (and a second business to be kept out)."""

from __future__ import annotations

import dataclasses
import uuid

import asyncpg

from agent_server import agents
from tests.conftest import MakeBusiness, Tenant

MAIL_DOMAIN = "agent.example"


@dataclasses.dataclass(frozen=True)
class Desk:
    """Business `tenant` (owner owner@bakery.example), its agent and its customer Carla."""

    tenant: Tenant
    agent_id: uuid.UUID
    customer_id: uuid.UUID

    @property
    def business_id(self) -> uuid.UUID:
        return self.tenant.business_id


async def add_customer(pool: asyncpg.Pool, business_id: uuid.UUID, email: str, name: str) -> uuid.UUID:
    customer_id: uuid.UUID = await pool.fetchval(
        "INSERT INTO customers (business_id, email, full_name, status) VALUES ($1, $2, $3, 'active') RETURNING id",
        business_id, email, name)
    return customer_id


async def open_desk(pool: asyncpg.Pool, make_business: MakeBusiness, name: str = "Bakery",
                    email: str = "owner@bakery.example") -> Desk:
    tenant = await make_business(name, email=email)
    agent_id = await agents.create_agent(pool, tenant.business_id, "Baker")
    customer_id = await add_customer(pool, tenant.business_id, f"carla@{name.lower()}-client.example", "Carla")
    return Desk(tenant, agent_id, customer_id)
