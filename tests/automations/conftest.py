"""Fixtures for forms: a business with an agent, and the app with a stub DNS resolver for webhook URLs."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server import agents
from agent_server.app import make_app
from agent_server.config import Settings
from agent_server.url_resolver import URL_RESOLVER
from tests.conftest import PUBLIC_URL, MakeBusiness, Tenant
from tests.knowledge.test_url_guard import StubResolver

Client = TestClient[web.Request, web.Application]
ORIGIN = {"Origin": PUBLIC_URL}
# What the stub DNS answers: a public address, and names an attacker points at inside addresses.
DNS = {"hooks.example.test": ["93.184.216.34"], "loopback.test": ["127.0.0.1"], "lan.test": ["10.0.0.1"],
       "metadata.test": ["169.254.169.254"], "v6.test": ["::1"]}


@dataclasses.dataclass(frozen=True)
class Shop:
    tenant: Tenant
    agent_id: uuid.UUID

    @property
    def headers(self) -> Mapping[str, str]:
        return self.tenant.headers


@pytest.fixture
async def shop(pool: asyncpg.Pool, make_business: MakeBusiness) -> Shop:
    tenant = await make_business("Bakery", email="owner@bakery.example")
    return Shop(tenant, await agents.create_agent(pool, tenant.business_id, "Baker"))


@pytest.fixture
def resolver() -> StubResolver:
    return StubResolver(DNS)


@pytest.fixture
def forms_settings(settings: Settings) -> Settings:
    """No in-process job runner: queued emails and webhooks stay queued for the test to read."""
    return dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs, run_in_process=False))


@pytest.fixture
async def client(forms_settings: Settings, resolver: StubResolver, aiohttp_client: Any) -> Client:
    app = make_app(forms_settings)
    app[URL_RESOLVER] = resolver
    started: Client = await aiohttp_client(app)
    return started


def cake_form(**overrides: Any) -> dict[str, Any]:
    """A form body as the dashboard sends it."""
    return {"name": "Cake order", "title": "Order a cake", "description": "Take a cake order",
            "fields": [{"id": "name", "label": "Your name", "type": "text", "required": True},
                       {"id": "email", "label": "Email", "type": "email", "required": True},
                       {"id": "phone", "label": "Phone", "type": "phone"},
                       {"id": "size", "label": "Size", "type": "select", "options": ["small", "large"]}],
            "triggerKeywords": ["order a cake", "quote"], "successMessage": "Thanks, we'll call you back",
            "notificationEmail": "orders@bakery.example", "emailSubject": "New cake order", **overrides}
