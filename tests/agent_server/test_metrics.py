"""/metrics: Prometheus text with HTTP counts, live calls and money held."""

from __future__ import annotations

import datetime

import asyncpg
from aiohttp.test_utils import TestClient

from billing import holds, ledger
from billing.ledger import EntryKind
from billing.money import Currency, Money
from tests.conftest import MakeBusiness


async def test_metrics_expose_http_counts_live_calls_and_holds(app_client: TestClient,  # type: ignore[type-arg]
                                                               pool: asyncpg.Pool,
                                                               make_business: MakeBusiness) -> None:
    tenant = await make_business()
    await ledger.credit(pool, business_id=tenant.business_id, amount=Money(500, Currency.USD),
                        kind=EntryKind.TOPUP, idempotency_key="t1", reference="seed", actor="test")
    await holds.place_hold(pool, business_id=tenant.business_id, amount=Money(120, Currency.USD),
                           expires_at=datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5),
                           idempotency_key="h1", reference="call:CA1")
    await app_client.get("/healthz")
    await app_client.get("/api/nope")
    resp = await app_client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/plain")
    text = await resp.text()
    assert 'agent_http_responses_total{method="GET",status="200"}' in text
    assert 'agent_http_responses_total{method="GET",status="404"} 1.0' in text
    assert "agent_live_calls 0.0" in text
    assert "agent_wallet_holds_active 1.0" in text
    assert 'agent_wallet_holds_amount_minor{currency="USD"} 120.0' in text
    assert "agent_call_stage_latency_seconds" in text
