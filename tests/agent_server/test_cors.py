"""CORS for the dashboard: listed origins may call /api/* from a browser; the widget and webhooks are left alone."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from structlog.testing import capture_logs

from agent_server.config import ConfigError
from tests.conftest import MakeBusiness, MakeClient, MakeSettings

DASHBOARD = "https://app.example.com"
OTHER = "https://evil.example.net"
Client = TestClient[web.Request, web.Application]


def cors_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k.lower().startswith("access-control-") or k.lower() == "vary"}


def preflight(origin: str, method: str = "PATCH") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization, content-type, if-match"}


@pytest.fixture
async def dashboard_client(make_settings: MakeSettings, make_client: MakeClient) -> Client:
    """The app with the dashboard's origin (and a second one, given with a trailing slash) listed in CORS_ORIGINS."""
    return await make_client(make_settings(CORS_ORIGINS=f"{DASHBOARD}, https://admin.example.com/"))


async def test_listed_origin_is_echoed_with_vary_and_no_credentials(dashboard_client: Client,
                                                                     make_business: MakeBusiness) -> None:
    tenant = await make_business("Acme")
    resp = await dashboard_client.get("/api/me", headers={**tenant.headers, "Origin": DASHBOARD})
    assert resp.status == 200
    assert resp.headers["Access-Control-Allow-Origin"] == DASHBOARD
    assert resp.headers["Vary"] == "Origin"
    assert "ETag" in resp.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Credentials" not in resp.headers
    second = await dashboard_client.get("/api/me", headers={**tenant.headers, "Origin": "https://admin.example.com"})
    assert second.headers["Access-Control-Allow-Origin"] == "https://admin.example.com"


async def test_error_answers_carry_the_cors_headers_so_the_dashboard_can_read_them(dashboard_client: Client) -> None:
    resp = await dashboard_client.get("/api/me", headers={"Origin": DASHBOARD})
    assert resp.status == 401
    assert resp.headers["Access-Control-Allow-Origin"] == DASHBOARD and resp.headers["Vary"] == "Origin"
    missing = await dashboard_client.get("/api/no-such-route", headers={"Origin": DASHBOARD})
    assert missing.status == 404 and missing.headers["Access-Control-Allow-Origin"] == DASHBOARD


async def test_unlisted_origin_gets_no_cors_headers_but_vary(dashboard_client: Client,
                                                             make_business: MakeBusiness) -> None:
    tenant = await make_business("Acme")
    resp = await dashboard_client.get("/api/me", headers={**tenant.headers, "Origin": OTHER})
    assert resp.status == 200
    assert cors_headers(resp.headers) == {"Vary": "Origin"}
    plain = await dashboard_client.get("/api/me", headers=tenant.headers)
    assert cors_headers(plain.headers) == {"Vary": "Origin"}


async def test_preflight_allows_the_routes_methods_and_the_dashboards_headers(dashboard_client: Client) -> None:
    resp = await dashboard_client.options(f"/api/campaigns/{uuid.uuid4()}", headers=preflight(DASHBOARD))
    assert resp.status == 204
    assert cors_headers(resp.headers) == {
        "Access-Control-Allow-Origin": DASHBOARD,
        "Access-Control-Allow-Methods": "DELETE, GET, HEAD, PATCH",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, If-Match, X-Request-ID, Idempotency-Key",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }
    collection = await dashboard_client.options("/api/campaigns", headers=preflight(DASHBOARD, "POST"))
    assert collection.headers["Access-Control-Allow-Methods"] == "GET, HEAD, POST"


async def test_preflight_from_an_unlisted_origin_is_refused_without_cors_headers(dashboard_client: Client) -> None:
    resp = await dashboard_client.options("/api/campaigns", headers=preflight(OTHER, "POST"))
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "ORIGIN_NOT_ALLOWED"
    assert cors_headers(resp.headers) == {"Vary": "Origin"}


async def test_widget_routes_keep_their_own_origin_rules(dashboard_client: Client, make_client: MakeClient) -> None:
    """The widget answers exactly as with no dashboard CORS: its own preflight, its own Origin check."""
    plain = await make_client()
    chatbot = uuid.uuid4()
    answers = []
    for client in (dashboard_client, plain):
        config = await client.get(f"/api/widget/{chatbot}/config", headers={"Origin": DASHBOARD})
        message = await client.options(f"/api/widget/{chatbot}/message", headers=preflight(DASHBOARD, "POST"))
        other = await client.options(f"/api/widget/{chatbot}/config", headers=preflight(DASHBOARD, "GET"))
        answers.append([(r.status, cors_headers(r.headers)) for r in (config, message, other)])
    assert answers[0] == answers[1]
    assert all("Access-Control-Allow-Origin" not in headers for _, headers in answers[0])


async def test_webhooks_get_no_cors(dashboard_client: Client) -> None:
    stripe = await dashboard_client.post("/api/payment/webhook", data=b"{}", headers={"Origin": DASHBOARD})
    twilio = await dashboard_client.post("/api/voice-agent/handle-call", data={"CallSid": "CA1"},
                                         headers={"Origin": DASHBOARD})
    asked = await dashboard_client.options("/api/voice-agent/handle-call", headers=preflight(DASHBOARD, "POST"))
    assert stripe.status >= 400 and twilio.status == 403 and asked.status == 405
    assert [cors_headers(r.headers) for r in (stripe, twilio, asked)] == [{}, {}, {}]


async def test_none_configured_means_no_cors_headers(app_client: Client, make_business: MakeBusiness) -> None:
    tenant = await make_business("Acme")
    resp = await app_client.get("/api/me", headers={**tenant.headers, "Origin": DASHBOARD})
    asked = await app_client.options("/api/campaigns", headers=preflight(DASHBOARD, "POST"))
    assert resp.status == 200 and asked.status == 405
    assert cors_headers(resp.headers) == {} and cors_headers(asked.headers) == {}


async def test_any_origin_only_when_star_is_configured_and_then_with_a_warning(
        make_settings: MakeSettings, make_client: MakeClient) -> None:
    with capture_logs() as logs:
        client = await make_client(make_settings(CORS_ORIGINS="*"))
    assert [e for e in logs if e["event"] == "cors_allows_every_origin" and e["log_level"] == "warning"]
    resp = await client.get("/api/openapi.json", headers={"Origin": OTHER})
    assert resp.headers["Access-Control-Allow-Origin"] == "*" and resp.headers["Vary"] == "Origin"
    asked = await client.options("/api/campaigns", headers=preflight(OTHER, "POST"))
    assert asked.status == 204 and asked.headers["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize("value", ["*,https://app.example.com", "https://app.example.com/dashboard",
                                   "app.example.com", "https://app.example.com?x=1"])
def test_a_bad_cors_origin_stops_start_up(make_settings: MakeSettings, value: str) -> None:
    with pytest.raises(ConfigError, match="server.cors_origins"):
        make_settings(CORS_ORIGINS=value)


def test_origins_are_normalised_as_browsers_send_them(make_settings: MakeSettings) -> None:
    settings = make_settings(CORS_ORIGINS="HTTPS://App.Example.com:443/, http://localhost:5173")
    assert settings.server.cors_origins == ("https://app.example.com", "http://localhost:5173")
