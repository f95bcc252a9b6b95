"""Bad input: a clear JSON error with a stable code, and nothing changed."""

from __future__ import annotations

import io

import asyncpg
from aiohttp.test_utils import TestClient

from tests.conftest import MakeBusiness


async def test_unknown_route_is_json_404(app_client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await app_client.get("/api/nope")
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "NOT_FOUND"


async def test_wrong_method_is_json_405(app_client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await app_client.delete("/api/me")
    assert resp.status == 405
    assert (await resp.json())["error"]["code"] == "METHOD_NOT_ALLOWED"


async def test_body_over_limit_is_413(app_client: TestClient, make_business: MakeBusiness) -> None:  # type: ignore[type-arg]
    tenant = await make_business()
    resp = await app_client.post("/api/agents", data=io.BytesIO(b"x" * 2_000_000),
                                 headers={**tenant.headers, "Content-Type": "application/json"})
    assert resp.status == 413
    assert (await resp.json())["error"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_malformed_json_is_400_saying_what_was_wrong(app_client: TestClient,  # type: ignore[type-arg]
                                                           make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    resp = await app_client.post("/api/agents", data=b'{"name": ', headers={**tenant.headers,
                                                                            "Content-Type": "application/json"})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "MALFORMED_JSON" and "malformed JSON" in error["message"]
    assert await pool.fetchval("SELECT count(*) FROM agents") == 0


async def test_validation_error_is_422_naming_the_field(app_client: TestClient,  # type: ignore[type-arg]
                                                        make_business: MakeBusiness, pool: asyncpg.Pool) -> None:
    tenant = await make_business()
    for body, field in (({}, "name"), ({"name": "x", "transferNumber": "555"}, "transferNumber"),
                        ({"name": "x", "faq": [{"question": "q"}]}, "faq"), ({"name": 5}, "name")):
        resp = await app_client.post("/api/agents", json=body, headers=tenant.headers)
        assert resp.status == 422, body
        error = (await resp.json())["error"]
        assert error["code"] == "VALIDATION_ERROR" and error["field"] == field
    assert await pool.fetchval("SELECT count(*) FROM agents") == 0


async def test_every_response_carries_a_request_id(app_client: TestClient) -> None:  # type: ignore[type-arg]
    resp = await app_client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert resp.headers["X-Request-ID"] == "abc-123"
    resp = await app_client.get("/healthz")
    assert len(resp.headers["X-Request-ID"]) == 32
