"""The OpenAPI document: served, valid, and complete (no route the router knows is missing from it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema_rs
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server.api.route import TOKEN_KINDS
from agent_server.api.routes_table import ROUTES, openapi_document
from agent_server.public_routes import PUBLIC_ROUTES
from tests.conftest import PUBLIC_URL, MakeBusiness

Client = TestClient[web.Request, web.Application]
METHODS = ("get", "post", "put", "patch", "delete", "options")


def registered_routes(app: web.Application) -> set[str]:
    """`METHOD /path` of every route, without the HEAD twin aiohttp adds to each GET."""
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path:
            found.add(f"{route.method} {path}")
    return found


def documented(doc: dict[str, Any]) -> set[str]:
    return {f"{method.upper()} {path}" for path, ops in doc["paths"].items() for method in ops if method in METHODS}


async def test_every_registered_route_is_in_the_document(app_client: Client) -> None:
    resp = await app_client.get("/api/openapi.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    doc = await resp.json()
    assert registered_routes(app_client.app) == documented(doc)
    assert doc["openapi"] == "3.1.0" and doc["servers"] == [{"url": PUBLIC_URL}]
    assert doc == openapi_document(PUBLIC_URL)  # the fuzz test builds its schema from the same call


async def test_the_table_lists_every_route_once_and_the_public_ones_with_their_reason(app_client: Client) -> None:
    keys = [route.key for route in ROUTES]
    assert len(keys) == len(set(keys))
    assert set(keys) == registered_routes(app_client.app)
    assert {route.key for route in ROUTES if route.auth not in TOKEN_KINDS} == set(PUBLIC_ROUTES)
    assert all(route.public_reason for route in ROUTES if route.auth not in TOKEN_KINDS)


def test_every_operation_documents_auth_errors_and_json_bodies() -> None:
    doc = openapi_document(PUBLIC_URL)
    for route in ROUTES:
        op = doc["paths"][route.path][route.method.lower()]
        assert op["operationId"] == route.operation_id and op["summary"]
        if route.auth == "jwt":
            assert op["security"] == [{"bearerAuth": []}] and "401" in op["responses"], route.key
        for status, response in op["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == {
                    "$ref": "#/components/schemas/ErrorEnvelope"}, (route.key, status)
    assert doc["components"]["securitySchemes"]["bearerAuth"]["bearerFormat"] == "JWT"


def test_webhooks_document_their_signature_headers_and_form_bodies() -> None:
    doc = openapi_document(PUBLIC_URL)
    for path in ("/api/voice-agent/handle-call", "/api/voice-agent/status", "/api/voice-agent/handle-sms"):
        op = doc["paths"][path]["post"]
        assert "application/x-www-form-urlencoded" in op["requestBody"]["content"]
        assert any(p["name"] == "X-Twilio-Signature" and p["in"] == "header" and p["required"]
                   for p in op["parameters"])
    stripe = doc["paths"]["/api/payment/webhook"]["post"]
    assert any(p["name"] == "Stripe-Signature" and p["required"] for p in stripe["parameters"])
    for path in ("/api/voice-agent/stream", "/api/widget/{chatbotId}/ws"):
        assert "101" in doc["paths"][path]["get"]["responses"] and doc["paths"][path]["get"]["x-websocket"]


def test_the_document_loads_in_schemathesis_and_its_schemas_are_valid_json_schema() -> None:
    doc = openapi_document(PUBLIC_URL)
    schema = schemathesis.openapi.from_dict(doc)
    assert len(list(schema.get_all_operations())) == len(ROUTES)
    for name, component in doc["components"]["schemas"].items():
        assert jsonschema_rs.meta.is_valid(component), name


async def test_responses_match_the_document(app_client: Client, make_business: MakeBusiness) -> None:
    """A few answers, read back against their declared schemas (the fuzz test checks thousands more)."""
    tenant = await make_business()
    doc = await (await app_client.get("/api/openapi.json")).json()
    created = await app_client.post("/api/agents", json={"name": "Ada", "faq": [{"question": "q", "answer": "a"}]},
                                    headers=tenant.headers)
    checks = [("post", "/api/agents", created),
              ("get", "/api/agents", await app_client.get("/api/agents", headers=tenant.headers)),
              ("get", "/api/me", await app_client.get("/api/me", headers=tenant.headers)),
              ("get", "/api/wallet/balance", await app_client.get("/api/wallet/balance", headers=tenant.headers)),
              ("get", "/api/usage", await app_client.get("/api/usage", headers=tenant.headers)),
              ("get", "/api/calls", await app_client.get("/api/calls?limit=0", headers=tenant.headers)),
              ("get", "/api/numbers", await app_client.get("/api/numbers")),
              ("get", "/healthz", await app_client.get("/healthz"))]
    for method, path, resp in checks:
        response = doc["paths"][path][method]["responses"][str(resp.status)]
        schema = {**response["content"]["application/json"]["schema"], "components": doc["components"]}
        assert jsonschema_rs.validator_for(schema).is_valid(await resp.json()), (path, resp.status)


def test_the_readme_lists_every_operation() -> None:
    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    section = readme[readme.index("## API contract"):readme.index("## Layout")]
    assert [route.key for route in ROUTES if f"| `{route.key}` |" not in section] == []
