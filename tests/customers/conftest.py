"""A shop with two agents, the app with the customer portal configured, and helpers to invite and sign in.

The app runs no job runner of its own (`run_in_process = false`): a test runs the link and
mail jobs itself (`deliver`), through a local SMTP server, so it sees exactly what was mailed.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from collections.abc import AsyncIterator
from email.message import EmailMessage

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server import agents
from agent_server.config import Settings
from customers.link_requests import SEND_LINKS_KIND, SendLinks
from jobs.runner import Runner
from mail import outbox
from mail.sending import SendEmail
from mail.smtp import SmtpMailer, SmtpTarget
from tests.conftest import MakeBusiness, MakeClient, MakeSettings, Tenant
from tests.fake_smtp import FakeSmtp

Client = TestClient[web.Request, web.Application]
CUSTOMER_SECRET = "customer-portal-test-secret-0123456789abcdef"
_TOKEN = re.compile(r"/login#token=([A-Za-z0-9_-]+)")


@dataclasses.dataclass(frozen=True)
class Shop:
    """A business with two agents (the customer is usually given the first)."""

    tenant: Tenant
    agent_1: uuid.UUID
    agent_2: uuid.UUID

    @property
    def business_id(self) -> uuid.UUID:
        return self.tenant.business_id


@pytest.fixture
def portal_settings(make_settings: MakeSettings) -> Settings:
    settings = make_settings(CUSTOMER_JWT_SECRET=CUSTOMER_SECRET)
    return dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs, run_in_process=False))


@pytest.fixture
async def client(make_client: MakeClient, portal_settings: Settings) -> Client:
    return await make_client(portal_settings)


async def open_shop(pool: asyncpg.Pool, make_business: MakeBusiness, name: str) -> Shop:
    tenant = await make_business(name)
    first = await agents.create_agent(pool, tenant.business_id, f"{name} front desk")
    second = await agents.create_agent(pool, tenant.business_id, f"{name} after hours")
    return Shop(tenant, first, second)


@pytest.fixture
async def shop(pool: asyncpg.Pool, make_business: MakeBusiness) -> Shop:
    return await open_shop(pool, make_business, "Bakery")


async def invite(client: Client, shop: Shop, email: str, *agent_ids: uuid.UUID) -> uuid.UUID:
    resp = await client.post("/api/customers", headers=shop.tenant.headers, json={
        "email": email, "full_name": "Maria Lopez", "chatbot_ids": [str(a) for a in agent_ids or (shop.agent_1,)]})
    assert resp.status == 201, await resp.text()
    return uuid.UUID((await resp.json())["customer_id"])


async def latest_token(pool: asyncpg.Pool, email: str) -> str:
    """The token of the newest sign-in email queued to `email` (read from the outbox, as the mail carries it)."""
    body = await pool.fetchval("SELECT text_body FROM email_outbox WHERE recipient = $1 AND template ="
                               " 'customer_sign_in' ORDER BY id DESC LIMIT 1", email)
    assert body is not None, f"no sign-in email for {email}"
    found = _TOKEN.search(body)
    assert found is not None
    return found.group(1)


async def exchange(client: Client, token: str) -> tuple[int, dict[str, object]]:
    resp = await client.post("/api/customers/portal/session", json={"token": token})
    return resp.status, await resp.json()


async def sign_in(client: Client, pool: asyncpg.Pool, email: str) -> dict[str, str]:
    """Exchange the newest link mailed to `email`; the portal's Authorization header."""
    status, body = await exchange(client, await latest_token(pool, email))
    assert status == 200, body
    return {"Authorization": f"Bearer {body['access_token']}"}


async def deliver(pool: asyncpg.Pool, settings: Settings) -> list[EmailMessage]:
    """Run the queued link jobs and then the mail jobs they queued, to a local SMTP server; what it received."""
    async with FakeSmtp() as smtp:
        mailer = SmtpMailer(SmtpTarget.parse(smtp.url), timeout_seconds=5)
        try:
            runner = Runner(pool, {SEND_LINKS_KIND: SendLinks(pool, settings.customers),
                                   outbox.SEND_KIND: SendEmail(pool, mailer, sender="portal@agent.example")},
                            settings.jobs)
            while await runner.run_once():
                pass
        finally:
            await mailer.close()
        return list(smtp.received)


@pytest.fixture
async def signed_in(client: Client, pool: asyncpg.Pool, shop: Shop) -> AsyncIterator[dict[str, str]]:
    """Maria, a customer of the shop given its first agent, signed in: the portal headers."""
    await invite(client, shop, "maria@example.com")
    yield await sign_in(client, pool, "maria@example.com")
