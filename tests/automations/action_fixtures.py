"""Fixtures for actions: the app with a stub DNS resolver and the local receiver allowed, and action bodies."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import msgspec
import pytest

from agent_server.app import make_app
from agent_server.config import Settings
from agent_server.url_resolver import URL_RESOLVER
from automations import action_store
from automations.action_checks import checked_spec
from automations.action_model import Action, ActionSpec
from automations.action_runner import ActionServices
from automations.webhook_http import guarded_session
from tests.automations.conftest import DNS, Client, Shop
from tests.fake_webhook_receiver import FakeWebhookReceiver
from tests.knowledge.test_url_guard import StubResolver

ALLOWED = ("127.0.0.1",)


@pytest.fixture
def actions_settings(settings: Settings) -> Settings:
    """No in-process job runner (queued emails stay queued); the local receiver is an allowed private host."""
    return dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs, run_in_process=False),
                               knowledge=dataclasses.replace(settings.knowledge, allowed_private_hosts=ALLOWED))


@pytest.fixture
async def receiver() -> AsyncIterator[FakeWebhookReceiver]:
    async with FakeWebhookReceiver() as started:
        yield started


@pytest.fixture
async def actions_client(actions_settings: Settings, resolver: StubResolver, aiohttp_client: Any) -> Client:
    app = make_app(actions_settings)
    app[URL_RESOLVER] = resolver
    started: Client = await aiohttp_client(app)
    return started


@pytest.fixture
async def services() -> AsyncIterator[ActionServices]:
    """What a conversation's tool runner passes: the guarded session (the local receiver allowed)."""
    async with guarded_session(ALLOWED, user_agent="tests") as session:
        yield ActionServices(session, ALLOWED)


def webhook_action(url: str, **overrides: Any) -> dict[str, Any]:
    """A webhook_call body as the dashboard sends it."""
    return {"type": "webhook_call", "name": "push_lead", "description": "Send the lead to the CRM",
            "parameters": {"type": "object", "properties": {
                "name": {"type": "string", "maxLength": 100}, "email": {"type": "string", "format": "email"},
                "size": {"enum": ["small", "large"]}}, "required": ["name"]},
            "configuration": {"url": url, "headers": {"Authorization": "Bearer crm-secret-token"}}, **overrides}


async def make_action(pool: asyncpg.Pool, shop: Shop, body: dict[str, Any]) -> Action:
    """An action saved as the create route saves it (checked: URL guard, own addresses, schema)."""
    spec = msgspec.convert(body, ActionSpec)
    checked = await checked_spec(pool, shop.tenant.business_id, spec, saved=None, allowed_private_hosts=ALLOWED,
                                 resolver=StubResolver(DNS))
    return await action_store.create(pool, shop.tenant.business_id, shop.agent_id, checked,
                                     now=datetime.datetime.now(datetime.UTC))
