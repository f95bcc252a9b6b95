"""Billing fixtures: the conservation check after every test that touched a database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from agent_server.config import Settings
from tests.conftest import MakeClient, MakeSettings
from tests.fake_stripe import FakeStripe, body_of, running, signature_header

Client = TestClient[web.Request, web.Application]


WEBHOOK_SECRET = "whsec_test_0123456789abcdef"


@pytest.fixture
async def fake_stripe() -> AsyncIterator[tuple[FakeStripe, str]]:
    """A fake Stripe API on 127.0.0.1 and its base URL."""
    fake = FakeStripe()
    async with running(fake) as base_url:
        yield fake, base_url


@pytest.fixture
def stripe_settings(make_settings: MakeSettings, fake_stripe: tuple[FakeStripe, str]) -> Settings:
    """Settings with Stripe configured against the fake."""
    fake, base_url = fake_stripe
    return make_settings(STRIPE_SECRET_KEY=fake.secret_key, STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
                         STRIPE_API_BASE=base_url)


@pytest.fixture
async def stripe_client(make_client: MakeClient, stripe_settings: Settings) -> Client:
    """The real app with payments configured against the fake Stripe."""
    return await make_client(stripe_settings)


async def deliver(client: Client, event: Mapping[str, Any], *, secret: str = WEBHOOK_SECRET,
                  timestamp: int | None = None) -> ClientResponse:
    """POST an event to the webhook exactly as Stripe would: raw JSON bytes, signed."""
    body = body_of(event)
    return await client.post("/api/payment/webhook", data=body, headers={
        "Stripe-Signature": signature_header(body, secret, timestamp), "Content-Type": "application/json"})


async def count_rows(pool: asyncpg.Pool) -> dict[str, int]:
    """Rows in every billing table, to show a refused request wrote nothing."""
    tables = ("wallets", "ledger_entries", "holds", "hold_events", "topups", "stripe_events")
    return {t: await pool.fetchval(f"SELECT count(*) FROM {t}") for t in tables}
