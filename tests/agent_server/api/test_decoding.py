"""Request bodies the storage could not hold are refused as a 422 naming the field, before anything is written."""

from __future__ import annotations

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.conftest import MakeBusiness

Client = TestClient[web.Request, web.Application]


async def test_an_integer_wider_than_64_bits_in_free_form_attributes_is_a_422_and_writes_nothing(
        app_client: Client, make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    """jsonb goes through orjson, which holds 64-bit integers at most (the fuzzer's PATCH was a 500)."""
    tenant = await make_business()
    wide = {"phone": "+14155550123", "attributes": {"visits": [{"count": 2**64}]}}
    resp = await app_client.post("/api/contacts", json=wide, headers=tenant.headers)
    assert resp.status == 422
    assert (await resp.json())["error"]["field"] == "attributes"
    assert await pool.fetchval("SELECT count(*) FROM contacts") == 0
    edges = {"phone": "+14155550123", "attributes": {"high": 2**64 - 1, "low": -2**63, "long": 1.0e300}}
    created = await app_client.post("/api/contacts", json=edges, headers=tenant.headers)
    assert created.status == 201, await created.text()
    contact = await created.json()
    assert contact["attributes"] == edges["attributes"]
    patched = await app_client.patch(f"/api/contacts/{contact['id']}", json={"attributes": {"n": -2**63 - 1}},
                                     headers=tenant.headers)
    assert patched.status == 422
    assert await pool.fetchval("SELECT attributes FROM contacts") == edges["attributes"]
