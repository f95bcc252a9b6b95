"""GET /api/usage/tokens on fixture rows: per day and per model it equals totals worked out by hand, and `charged`
equals the ledger entries the rows point to."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server import agents
from agent_server.config import Settings
from billing import ledger
from billing.cost_config import ProviderCostsConfig
from billing.ledger import EntryKind
from billing.money import Currency, Money
from llm_usage import requests as llm_requests
from llm_usage.requests import Attempt, RequestContext, RequestLog, cache_hit
from llm_usage.usage_config import UsageConfig
from tests.conftest import MakeBusiness, MakeClient, Tenant, fund_wallet

Client = TestClient[web.Request, web.Application]
D1, D2 = datetime.datetime(2026, 3, 1, 12, tzinfo=datetime.UTC), datetime.datetime(2026, 3, 2, 9, tzinfo=datetime.UTC)
RANGE = {"from": "2026-03-01", "to": "2026-03-03"}
MINI = "gpt-4o-mini"


@dataclasses.dataclass(frozen=True)
class Fixture:
    tenant: Tenant
    agent: uuid.UUID
    other_agent: uuid.UUID


async def reply(pool: asyncpg.Pool, ctx: RequestContext, when: datetime.datetime, attempts: list[Attempt],
                charge: int | None = None) -> None:
    """One reply's rows at `when`, and (when it charged) its ledger entry in minor USD."""
    key = None
    if charge is not None:
        key = f"chat:{uuid.uuid4()}"
        await ledger.debit(pool, business_id=ctx.business_id, amount=Money(charge, Currency.USD),
                           kind=EntryKind.CHAT_USAGE, idempotency_key=key, reference=key, actor="test")
    message = uuid.uuid4()
    await llm_requests.insert(pool, RequestLog(ctx.about(message_id=message), attempts), ledger_key=key,
                              prices=ProviderCostsConfig().llm)
    await pool.execute("UPDATE llm_requests SET created_at = $2 WHERE message_id = $1", message, when)


async def seed(pool: asyncpg.Pool, make_business: MakeBusiness) -> Fixture:
    """Day 1: a widget reply (246 micros, 7 cents) and an SMS reply whose gpt-4o attempt failed and gpt-4o-mini
    answered with 400 cached tokens (180 micros, 2 cents). Day 2: the other agent's unpriced, estimated reply
    (1 cent), a cache hit (1 cent), and a call turn (318 micros, charged per minute elsewhere). Another business's
    row on day 2 is never counted."""
    tenant, stranger = await make_business("Tokens"), await make_business("Stranger")
    await fund_wallet(pool, tenant.business_id)
    agent = await agents.create_agent(pool, tenant.business_id, "Front desk")
    other = await agents.create_agent(pool, tenant.business_id, "Night desk")
    ctx = RequestContext(tenant.business_id, agent, 1, "widget")
    await reply(pool, ctx, D1, [Attempt(MINI, MINI, 1, "ok", 200, 1234, 0, 100)], charge=7)
    await reply(pool, dataclasses.replace(ctx, channel="sms"), D1, [
        Attempt("gpt-4o", "gpt-4o", 1, "error", 500), Attempt("gpt-4o", MINI, 2, "ok", 200, 1000, 400, 50)], charge=2)
    await reply(pool, RequestContext(tenant.business_id, other, 3, "widget"), D2,
                [Attempt("o9", "o9", 1, "ok", 200, 500, 0, 20, estimated=True)], charge=1)
    await reply(pool, ctx, D2, [cache_hit(MINI)], charge=1)
    await reply(pool, dataclasses.replace(ctx, channel="voice", call_sid="CAreport"), D2,
                [Attempt(MINI, MINI, 1, "ok", None, 2000, 0, 30, first_token_ms=420)])
    await reply(pool, RequestContext(stranger.business_id, None, None, "widget"), D2,
                [Attempt(MINI, MINI, 1, "ok", 200, 9999, 0, 999)])
    return Fixture(tenant, agent, other)


def counts(requests: int, failed: int, fallbacks: int, tokens: tuple[int, int, int], estimated: int, cost: int,
           unpriced: int, charged: dict[str, int], hits: int) -> dict[str, Any]:
    return {"requests": requests, "failedAttempts": failed, "fallbacks": fallbacks, "inputTokens": tokens[0],
            "cachedTokens": tokens[1], "outputTokens": tokens[2], "estimatedRequests": estimated,
            "providerCostMicros": cost, "unpricedRequests": unpriced, "charged": charged,
            "marginMicros": charged.get("USD", 0) * 10_000 - cost, "answerCacheHits": hits}


async def report(client: Client, fixture: Fixture, **query: str) -> dict[str, Any]:
    resp = await client.get("/api/usage/tokens", params={**RANGE, **query}, headers=fixture.tenant.headers)
    body: dict[str, Any] = await resp.json()
    assert resp.status == 200, body
    return body


async def test_the_report_per_day_and_per_model_equals_hand_totals_and_charged_equals_the_ledger(
        make_client: MakeClient, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    fixture = await seed(pool, make_business)
    client = await make_client()
    day_1 = counts(3, 1, 1, (2234, 400, 150), 0, 246 + 180, 0, {"USD": 9}, 0)
    day_2 = counts(2, 0, 0, (2500, 0, 50), 1, 318, 1, {"USD": 2}, 1)
    by_day = await report(client, fixture)
    assert by_day["rows"] == [{"period": "2026-03-01", **day_1}, {"period": "2026-03-02", **day_2}]
    assert by_day["totals"] == counts(5, 1, 1, (4734, 400, 200), 1, 744, 1, {"USD": 11}, 1)
    by_model = await report(client, fixture, group="model")
    assert by_model["rows"] == [
        {"model": "gpt-4o", **counts(1, 1, 0, (0, 0, 0), 0, 0, 0, {}, 0)},
        {"model": MINI, **counts(3, 0, 1, (4234, 400, 180), 0, 744, 0, {"USD": 10}, 1)},
        {"model": "o9", **counts(1, 0, 0, (500, 0, 20), 1, 0, 1, {"USD": 1}, 0)}]
    assert by_model["totals"] == by_day["totals"]
    in_ledger = await pool.fetchval(
        "SELECT -sum(e.amount) FROM ledger_entries e JOIN wallets w ON w.id = e.wallet_id"
        " WHERE w.business_id = $1 AND e.kind = 'chat_usage'", fixture.tenant.business_id)
    assert by_day["totals"]["charged"] == {"USD": in_ledger}


async def test_the_report_narrows_to_one_agent_or_one_channel(
        make_client: MakeClient, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    fixture = await seed(pool, make_business)
    client = await make_client()
    night = await report(client, fixture, agentId=str(fixture.other_agent), group="model")
    assert [(r["model"], r["requests"], r["charged"]) for r in night["rows"]] == [("o9", 1, {"USD": 1})]
    voice = await report(client, fixture, channel="voice")
    assert voice["totals"] == counts(1, 0, 0, (2000, 0, 30), 0, 318, 0, {}, 0)


async def test_a_range_over_366_days_or_a_bad_group_is_refused(
        make_client: MakeClient, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    fixture = await seed(pool, make_business)
    client = await make_client()
    for query in ({"from": "2025-01-01", "to": "2026-03-03"}, {"group": "week"}, {"channel": "fax"},
                  {"agentId": "not-a-uuid"}):
        resp = await client.get("/api/usage/tokens", params={**RANGE, **query}, headers=fixture.tenant.headers)
        assert resp.status == 422 and (await resp.json())["error"]["code"] == "VALIDATION_ERROR"


async def test_expose_provider_cost_false_hides_cost_and_margin(
        make_client: MakeClient, settings: Settings, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    fixture = await seed(pool, make_business)
    client = await make_client(dataclasses.replace(settings, usage=UsageConfig(expose_provider_cost=False)))
    body = await report(client, fixture)
    for row in (*body["rows"], body["totals"]):
        assert "providerCostMicros" not in row and "marginMicros" not in row and "unpricedRequests" in row
