"""Tenant isolation: another business's objects look exactly like missing ones."""

from __future__ import annotations

import uuid

import asyncpg
from aiohttp.test_utils import TestClient

from agent_server import tenants
from tests.conftest import MakeBusiness


async def test_member_of_a_gets_404_for_business_b(app_client: TestClient, make_business: MakeBusiness) -> None:  # type: ignore[type-arg]
    a = await make_business("A")
    b = await make_business("B")
    other = await app_client.get(f"/api/businesses/{b.business_id}", headers=a.headers)
    missing = await app_client.get(f"/api/businesses/{uuid.uuid4()}", headers=a.headers)
    assert other.status == missing.status == 404
    assert (await other.json()) == (await missing.json())
    own = await app_client.get(f"/api/businesses/{a.business_id}", headers=a.headers)
    assert own.status == 200


async def test_agents_of_another_business_are_invisible(app_client: TestClient, make_business: MakeBusiness) -> None:  # type: ignore[type-arg]
    a = await make_business("A")
    b = await make_business("B")
    created = await app_client.post("/api/agents", json={"name": "Bee"}, headers=b.headers)
    assert created.status == 201
    listed = await app_client.get(f"/api/agents?businessId={b.business_id}", headers=a.headers)
    assert listed.status == 404
    write = await app_client.post("/api/agents", json={"name": "X", "businessId": str(b.business_id)},
                                  headers=a.headers)
    assert write.status == 404
    own = await app_client.get("/api/agents", headers=a.headers)
    assert (await own.json())["agents"] == []


async def test_business_id_required_when_user_has_several(app_client: TestClient, make_business: MakeBusiness,  # type: ignore[type-arg]
                                                          pool: asyncpg.Pool) -> None:
    a = await make_business("A")
    second = await tenants.create_business(pool, "A2")
    await tenants.add_member(pool, second, a.user_id)
    resp = await app_client.get("/api/agents", headers=a.headers)
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "businessId"
    resp = await app_client.get(f"/api/agents?businessId={second}", headers=a.headers)
    assert resp.status == 200


async def test_user_without_business_gets_403(app_client: TestClient, pool: asyncpg.Pool,  # type: ignore[type-arg]
                                              token_for: object) -> None:
    user_id = await tenants.create_user(pool, "lonely@example.com")
    token = token_for(user_id)  # type: ignore[operator]
    resp = await app_client.get("/api/agents", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 403
