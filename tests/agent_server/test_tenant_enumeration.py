"""Tenant isolation by enumeration: every route of the app is probed with another business's ids, or listed.

The test walks the app's router. A member of business A calls every business-scoped route with
business B's ids, in the path, the query and the body in turn; each answer must be exactly the
answer a missing id gets (same status, code and message), that answer must be a 404, and no
row may be written anywhere. Routes that take no business's ids are listed in `NOT_SCOPED`, and
routes open to the world in `agent_server.public_routes.PUBLIC_ROUTES`, each with its reason.
A route that is neither probed nor listed fails the suite, so a new route can't skip the check.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server import agents
from agent_server.api.routes_table import ROUTES
from agent_server.public_routes import PUBLIC_ROUTES
from conversations import records
from media import call_records
from phone_numbers import registry
from tests.agent_server.action_probes import action_probes, seed_actions
from tests.agent_server.customer_probes import customer_probes, seed_customers
from tests.agent_server.agent_channel_probes import agent_channel_probes
from tests.agent_server.form_probes import form_probes, seed_forms
from tests.agent_server.messaging_probes import messaging_probes, seed_messaging
from tests.agent_server.ticket_probes import seed_tickets, ticket_probes
from tests.agent_server.webhook_probes import seed_webhooks, webhook_probes
from tests.conftest import MakeBusiness, MakeClient, MakeSettings, Tenant, fund_wallet
from tests.fake_stripe import FakeStripe, running
from tests.fake_twilio import FakeTwilio

Client = TestClient[web.Request, web.Application]

# JWT routes that take no business's ids at all: nothing of another tenant can be named.
NOT_SCOPED: dict[str, str] = {
    "GET /api/me": "the caller's own user and memberships",
    "POST /api/numbers/search": "searches the carrier's inventory for sale, not any business's data",
}


# Customer portal routes: a customer's session names no business; each read is joined to the session's
# customer and its assigned agents, and walked with another agent's and business's ids in tests/customers/.
PORTAL_ROUTES: set[str] = {route.key for route in ROUTES if route.auth == "customer"}


@dataclasses.dataclass(frozen=True)
class World:
    """Business A (the caller) and business B (the victim), with one object of each kind each."""

    a: Tenant
    b: Tenant
    a_agent: uuid.UUID
    b_agent: uuid.UUID
    a_number: uuid.UUID
    b_number: uuid.UUID
    b_call: uuid.UUID
    b_conversation: uuid.UUID
    b_source: uuid.UUID
    b_crawl: uuid.UUID


@dataclasses.dataclass(frozen=True)
class Attempt:
    """One request naming an id; `build(id)` is sent once with B's id and once with a fresh one."""

    label: str
    foreign: uuid.UUID
    build: Callable[[uuid.UUID], tuple[str, dict[str, str] | None, dict[str, Any] | None]]


def _q(path: str) -> Callable[[uuid.UUID], tuple[str, dict[str, str] | None, dict[str, Any] | None]]:
    return lambda x: (path, {"businessId": str(x)}, None)


def _path(template: str, body: dict[str, Any] | None = None
          ) -> Callable[[uuid.UUID], tuple[str, dict[str, str] | None, dict[str, Any] | None]]:
    return lambda x: (template.format(id=x), None, body)


def _body(path: str, make: Callable[[str], dict[str, Any]]
          ) -> Callable[[uuid.UUID], tuple[str, dict[str, str] | None, dict[str, Any] | None]]:
    return lambda x: (path, None, make(str(x)))


def probes(w: World) -> dict[str, list[Attempt]]:
    """Every business-scoped route, with each place it takes an id."""
    business, agent, number, call = w.b.business_id, w.b_agent, w.b_number, w.b_call
    return {
        "GET /api/agents": [Attempt("query businessId", business, _q("/api/agents"))],
        "POST /api/agents": [Attempt("body businessId", business, _body(
            "/api/agents", lambda x: {"businessId": x, "name": "Intruder"}))],
        "POST /api/calls/{id}/hangup": [Attempt("path call", call, _path("/api/calls/{id}/hangup"))],
        "GET /api/calls": [Attempt("query businessId", business, _q("/api/calls"))],
        "GET /api/calls/{id}": [Attempt("path call", call, _path("/api/calls/{id}"))],
        "GET /api/voice/token": [Attempt("query agentId", agent, lambda x: ("/api/voice/token", {"agentId": str(x)},
                                                                             None))],
        "GET /api/calls/{id}/recording": [Attempt("path call", call, _path("/api/calls/{id}/recording"))],
        "DELETE /api/calls/{id}/recording": [Attempt("path call", call, _path("/api/calls/{id}/recording"))],
        "POST /api/chatbot": [
            Attempt("body chatbotId", agent, _body("/api/chatbot", lambda x: {"chatbotId": x, "message": "hi"})),
            Attempt("body conversationId", w.b_conversation, _body("/api/chatbot", lambda x: {
                "chatbotId": str(w.a_agent), "message": "hi", "conversationId": x})),
        ],
        "GET /api/businesses/{id}": [Attempt("path business", business, _path("/api/businesses/{id}"))],
        "POST /api/numbers/purchase": [Attempt("body businessId", business, _body(
            "/api/numbers/purchase", lambda x: {"phoneNumber": "+14155550123", "businessId": x,
                                                "displayName": "Main", "countryCode": "US",
                                                "numberType": "local"}))],
        "POST /api/numbers/import": [Attempt("body businessId", business, _body(
            "/api/numbers/import", lambda x: {"phoneNumber": "+14155550124", "businessId": x}))],
        "GET /api/numbers": [Attempt("query businessId", business, _q("/api/numbers"))],
        "PATCH /api/numbers/{id}": [
            Attempt("path number", number, _path("/api/numbers/{id}", {"displayName": "Mine now"})),
            Attempt("body agentId", agent, lambda x: (f"/api/numbers/{w.a_number}", None, {"agentId": str(x)})),
        ],
        "DELETE /api/numbers/{numberId}/release": [
            Attempt("path number", number, _path("/api/numbers/{id}/release"))],
        "POST /api/payment/create-checkout-session": [Attempt("body businessId", business, _body(
            "/api/payment/create-checkout-session", lambda x: {"amount": 1000, "currency": "USD", "businessId": x}))],
        "GET /api/usage": [Attempt("query businessId", business, _q("/api/usage"))],
        "GET /api/usage/tokens": [
            Attempt("query businessId", business, _q("/api/usage/tokens")),
            Attempt("query agentId", agent, lambda x: ("/api/usage/tokens", {"agentId": str(x)}, None))],
        "GET /api/jobs": [Attempt("query businessId", business, _q("/api/jobs"))],
        "POST /api/chat/conversations/{id}/end": [
            Attempt("path conversation", w.b_conversation, _path("/api/chat/conversations/{id}/end"))],
        "POST /api/chat/detect-end": [Attempt("body conversationId", w.b_conversation, _body(
            "/api/chat/detect-end", lambda x: {"conversationId": x}))],
        "GET /api/conversations/{id}/analysis": [
            Attempt("path conversation", w.b_conversation, _path("/api/conversations/{id}/analysis")),
            Attempt("path call", call, _path("/api/conversations/{id}/analysis"))],
        "POST /api/leads/extract": [Attempt("body conversationId", w.b_conversation, _body(
            "/api/leads/extract", lambda x: {"conversationId": x, "force": True}))],
        "GET /api/leads": [Attempt("query businessId", business, _q("/api/leads"))],
        "POST /api/leads/extract-batch": [Attempt("body businessId", business, _body(
            "/api/leads/extract-batch", lambda x: {"businessId": x, "from": "2026-01-01", "to": "2026-02-01"}))],
        "GET /api/notifications/preferences": [Attempt("query businessId", business,
                                                       _q("/api/notifications/preferences"))],
        "PUT /api/notifications/preferences": [Attempt("body businessId", business, _body(
            "/api/notifications/preferences", lambda x: {"businessId": x, "newLead": False}))],
        "POST /api/notifications/test": [Attempt("body businessId", business, _body(
            "/api/notifications/test", lambda x: {"businessId": x}))],
        "GET /api/notifications/outbox": [Attempt("query businessId", business, _q("/api/notifications/outbox"))],
        "GET /api/wallet/balance": [Attempt("query businessId", business, _q("/api/wallet/balance"))],
        **_knowledge_probes(w),
        **{route: [Attempt(*probe) for probe in found] for route, found in form_probes(w.b_agent).items()},
        **{route: [Attempt(*probe) for probe in found] for route, found in action_probes(w.b_agent).items()},
        **_agent_probes(w),
        **{route: [Attempt(*probe) for probe in found]
           for route, found in agent_channel_probes(business, agent).items()},
        **{route: [Attempt(*probe) for probe in found]
           for route, found in messaging_probes(business, w.b_number).items()},
        **{route: [Attempt(*probe) for probe in found]
           for route, found in ticket_probes(business, agent).items()},
        **{route: [Attempt(*probe) for probe in found] for route, found in webhook_probes(business).items()},
        **{route: [Attempt(*probe) for probe in found] for route, found in customer_probes(business, agent).items()},
        "GET /api/wallet/transactions": [Attempt("query businessId", business, _q("/api/wallet/transactions"))],
        "GET /api/wallet/statement": [Attempt("query businessId", business, lambda x: (
            "/api/wallet/statement", {"businessId": str(x), "month": "2026-01"}, None))],
    }


def _agent_probes(w: World) -> dict[str, list[Attempt]]:
    """Reading, editing, deleting and restoring B's agent (its version 1 exists)."""
    return {
        "GET /api/agents/{agentId}": [Attempt("path agent", w.b_agent, _path("/api/agents/{id}"))],
        "PATCH /api/agents/{agentId}": [
            Attempt("path agent", w.b_agent, _path("/api/agents/{id}", {"name": "Mine now"})),
            Attempt("path agent, token caps", w.b_agent, _path("/api/agents/{id}", {"dailyTokenLimit": None}))],
        "DELETE /api/agents/{agentId}": [Attempt("path agent", w.b_agent, _path("/api/agents/{id}"))],
        "GET /api/agents/{agentId}/versions": [Attempt("path agent", w.b_agent, _path("/api/agents/{id}/versions"))],
        "POST /api/agents/{agentId}/versions/{version}/restore": [
            Attempt("path agent", w.b_agent, _path("/api/agents/{id}/versions/1/restore"))],
        "GET /api/agents/{agentId}/token-settings": [
            Attempt("path agent", w.b_agent, _path("/api/agents/{id}/token-settings"))],
        "PUT /api/agents/{agentId}/token-settings": [
            Attempt("path agent", w.b_agent, _path("/api/agents/{id}/token-settings", {"dailyTokenLimit": 5}))],
    }


def _knowledge_probes(w: World) -> dict[str, list[Attempt]]:
    """The knowledge routes: B's agent in the path, and B's source or crawl under A's own agent."""
    base, some = "/api/agents/{id}/knowledge", uuid.uuid4()
    mine = f"/api/agents/{w.a_agent}/knowledge"
    return {
        f"POST {base.replace('{id}', '{agentId}')}/sources": [Attempt("path agent", w.b_agent, _path(
            f"{base}/sources", {"type": "text", "title": "Hours", "content": "Open daily."}))],
        f"GET {base.replace('{id}', '{agentId}')}/sources": [Attempt("path agent", w.b_agent, _path(f"{base}/sources"))],
        f"GET {base.replace('{id}', '{agentId}')}/crawls/{{crawlId}}": [
            Attempt("path agent", w.b_agent, _path(f"{base}/crawls/{some}")),
            Attempt("path crawl", w.b_crawl, lambda x: (f"{mine}/crawls/{x}", None, None))],
        f"POST {base.replace('{id}', '{agentId}')}/sources/{{sourceId}}/sync": [
            Attempt("path agent", w.b_agent, _path(f"{base}/sources/{some}/sync")),
            Attempt("path source", w.b_source, lambda x: (f"{mine}/sources/{x}/sync", None, None))],
        f"DELETE {base.replace('{id}', '{agentId}')}/sources/{{sourceId}}": [
            Attempt("path agent", w.b_agent, _path(f"{base}/sources/{some}")),
            Attempt("path source", w.b_source, lambda x: (f"{mine}/sources/{x}", None, None))],
        f"GET {base.replace('{id}', '{agentId}')}/search": [
            Attempt("path agent", w.b_agent, lambda x: (f"/api/agents/{x}/knowledge/search", {"q": "hours"}, None))],
        "POST /api/chatbots/crawl": [Attempt("body chatbotId", w.b_agent, _body("/api/chatbots/crawl", lambda x: {
            "chatbotId": x, "websiteUrl": "https://example.com/"}))],
    }


def registered_routes(app: web.Application) -> set[str]:
    """`METHOD /path` of every route, without the HEAD twins aiohttp adds to each GET."""
    found = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path:
            found.add(f"{route.method} {path}")
    return found


async def row_counts(pool: asyncpg.Pool) -> dict[str, int]:
    tables = await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    return {t["tablename"]: await pool.fetchval(f'SELECT count(*) FROM "{t["tablename"]}"') for t in tables}


@pytest.fixture
async def client(make_client: MakeClient, make_settings: MakeSettings) -> AsyncIterator[Client]:
    """The app with Twilio and Stripe configured against their fakes, so no route stops at a 503.

    Without the in-process job runner: a recurring job falling due mid-probe would add rows no
    request wrote (a job a request queues is still counted)."""
    async with FakeTwilio() as twilio:
        stripe = FakeStripe()
        async with running(stripe) as stripe_base:
            settings = make_settings(
                TWILIO_ACCOUNT_SID=twilio.account_sid, TWILIO_AUTH_TOKEN=twilio.auth_token,
                TWILIO_API_BASE=twilio.base_url, STRIPE_SECRET_KEY=stripe.secret_key,
                STRIPE_WEBHOOK_SECRET="whsec_enumeration", STRIPE_API_BASE=stripe_base)
            yield await make_client(dataclasses.replace(
                settings, jobs=dataclasses.replace(settings.jobs, run_in_process=False)))


@pytest.fixture
async def world(pool: asyncpg.Pool, make_business: MakeBusiness) -> World:
    a, b = await make_business("A"), await make_business("B")
    ids: dict[str, uuid.UUID] = {}
    for tenant, name, phone in ((a, "a", "+14155550100"), (b, "b", "+14155550199")):
        await fund_wallet(pool, tenant.business_id)
        ids[f"{name}_agent"] = await agents.create_agent(pool, tenant.business_id, f"Agent {name}")
        ids[f"{name}_number"] = await registry.add_number(pool, tenant.business_id, phone,
                                                          agent_id=ids[f"{name}_agent"])
    b_call = await call_records.record_inbound_call(
        pool, call_sid="CA" + "b" * 32, business_id=b.business_id, number_id=ids["b_number"],
        agent_id=ids["b_agent"], from_number="+15551230000", to_number="+14155550199")
    b_conversation = uuid.uuid4()
    await records.create_conversation(pool, b_conversation, agent_id=ids["b_agent"], business_id=b.business_id,
                                      origin="dashboard")
    await seed_messaging(pool, a.business_id, b.business_id, ids["b_number"])
    await seed_forms(pool, b.business_id, ids["b_agent"])
    await seed_actions(pool, b.business_id, ids["b_agent"])
    await seed_tickets(pool, b.business_id)
    await seed_customers(pool, a.business_id, b.business_id)
    await seed_webhooks(pool, b.business_id)
    # A finished crawl of B's website source: A's sync of it could start a crawl, A's delete drop its pages.
    b_source = await pool.fetchval("INSERT INTO kb_sources (business_id, agent_id, kind, url, title) VALUES"
                                   " ($1, $2, 'website', 'https://b.example.com/', 'B') RETURNING id",
                                   b.business_id, ids["b_agent"])
    b_crawl = await pool.fetchval("INSERT INTO kb_crawls (source_id, business_id, status) VALUES ($1, $2,"
                                  " 'completed') RETURNING id", b_source, b.business_id)
    return World(a, b, ids["a_agent"], ids["b_agent"], ids["a_number"], ids["b_number"], b_call, b_conversation,
                 b_source, b_crawl)


async def _send(client: Client, tenant: Tenant, method: str, request: tuple[str, dict[str, str] | None,
                dict[str, Any] | None]) -> tuple[int, Any]:
    path, params, body = request
    resp = await client.request(method, path, params=params, json=body, headers=tenant.headers)
    return resp.status, await resp.json()


async def test_every_route_is_probed_or_listed(client: Client, world: World) -> None:
    routes = registered_routes(client.app)
    accounted = set(probes(world)) | set(NOT_SCOPED) | set(PUBLIC_ROUTES) | PORTAL_ROUTES
    assert routes - accounted == set(), "a route is neither probed with foreign ids nor listed as public/unscoped"
    assert accounted - routes == set(), "a listed route no longer exists"


async def test_another_business_ids_answer_exactly_as_missing_ones_and_write_nothing(
        client: Client, world: World, pool: asyncpg.Pool) -> None:
    probed = 0
    for route, attempts in probes(world).items():
        method = route.split(" ", 1)[0]
        for attempt in attempts:
            before = await row_counts(pool)
            foreign = await _send(client, world.a, method, attempt.build(attempt.foreign))
            assert await row_counts(pool) == before, f"{route} ({attempt.label}) wrote rows for a foreign id"
            missing = await _send(client, world.a, method, attempt.build(uuid.uuid4()))
            assert foreign == missing, f"{route} ({attempt.label}): foreign {foreign} != missing {missing}"
            assert foreign[0] == 404, f"{route} ({attempt.label}) answered {foreign}"
            assert await row_counts(pool) == before, f"{route} ({attempt.label}) wrote rows for a missing id"
            probed += 1
    assert probed >= len(probes(world))


async def test_the_owner_still_reaches_its_own_objects(client: Client, world: World) -> None:
    """The probes above are not vacuous: with its own ids, B gets through the same doors."""
    for method, path in (("GET", f"/api/calls/{world.b_call}"), ("GET", f"/api/businesses/{world.b.business_id}"),
                         ("GET", f"/api/numbers?businessId={world.b.business_id}"),
                         ("GET", f"/api/agents/{world.b_agent}"), ("GET", f"/api/agents/{world.b_agent}/versions"),
                         ("GET", f"/api/agents/{world.b_agent}/knowledge/crawls/{world.b_crawl}")):
        resp = await client.request(method, path, headers=world.b.headers)
        assert resp.status == 200, (path, await resp.text())
