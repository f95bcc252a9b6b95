"""An agent's token settings from the dashboard: defaults, PUT and the agent PATCH with one validator."""

from __future__ import annotations

import datetime
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server import agents
from llm_usage import token_budgets
from tests.conftest import MakeBusiness

Client = TestClient[web.Request, web.Application]


async def test_an_untouched_agent_has_the_default_caps_and_uses_nothing(
        app_client: Client, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Desk")
    resp = await app_client.get(f"/api/agents/{agent_id}/token-settings", headers=tenant.headers)
    assert resp.status == 200
    body = await resp.json()
    now = datetime.datetime.now(datetime.UTC)
    tomorrow = datetime.datetime.combine(now.date() + datetime.timedelta(days=1), datetime.time(), datetime.UTC)
    assert body == {"dailyTokenLimit": 100_000, "monthlyTokenLimit": 1_000_000, "maxOutputTokens": 1000,
                    "fallbackModels": [], "used": {"day": 0, "month": 0},
                    "resetsAt": {"day": tomorrow.isoformat(), "month": body["resetsAt"]["month"]}}


async def test_put_changes_only_what_it_sends_and_shows_the_tokens_used(
        app_client: Client, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Desk")
    grant = await token_budgets.reserve(pool, agent_id, token_budgets.Limits(None, None), prompt_chars=3,
                                        max_tokens=10)
    await token_budgets.settle(pool, grant.id, 7)
    url = f"/api/agents/{agent_id}/token-settings"
    resp = await app_client.put(url, json={"dailyTokenLimit": None, "fallbackModels": ["gpt-4o", "gpt-4o-mini"]},
                                headers=tenant.headers)
    assert resp.status == 200, await resp.text()
    resp = await app_client.put(url, json={"maxOutputTokens": 4000}, headers=tenant.headers)
    body = await resp.json()
    assert (body["dailyTokenLimit"], body["monthlyTokenLimit"], body["maxOutputTokens"], body["fallbackModels"],
            body["used"]) == (None, 1_000_000, 4000, ["gpt-4o", "gpt-4o-mini"], {"day": 7, "month": 7})


async def test_out_of_range_values_are_refused_by_put_and_patch_alike_and_change_nothing(
        app_client: Client, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Desk")
    bad: list[dict[str, Any]] = [{"maxOutputTokens": 0}, {"maxOutputTokens": 4001}, {"dailyTokenLimit": -1},
                                 {"fallbackModels": ["a", "b", "c"]}, {"fallbackModels": [""]},
                                 {"monthlyTokenLimit": "lots"}, {"tokenLimit": 5}]
    for body in bad:
        put = await app_client.put(f"/api/agents/{agent_id}/token-settings", json=body, headers=tenant.headers)
        patch = await app_client.patch(f"/api/agents/{agent_id}", json=body, headers=tenant.headers)
        assert (put.status, patch.status) == (422, 422), body
    assert await pool.fetchval("SELECT count(*) FROM token_settings") == 0


async def test_the_agent_patch_sets_token_caps_without_writing_a_version(
        app_client: Client, pool: asyncpg.Pool, make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Desk")
    resp = await app_client.patch(f"/api/agents/{agent_id}", json={"dailyTokenLimit": 500, "maxOutputTokens": 300},
                                  headers=tenant.headers)
    assert resp.status == 200 and resp.headers["ETag"] == '"v1"'
    resp = await app_client.patch(f"/api/agents/{agent_id}", json={"name": "Front desk", "monthlyTokenLimit": None},
                                  headers=tenant.headers)
    assert resp.status == 200 and resp.headers["ETag"] == '"v2"'
    body = await (await app_client.get(f"/api/agents/{agent_id}/token-settings", headers=tenant.headers)).json()
    assert (body["dailyTokenLimit"], body["monthlyTokenLimit"], body["maxOutputTokens"]) == (500, None, 300)


async def test_another_business_agent_is_missing(app_client: Client, pool: asyncpg.Pool,
                                                 make_business: MakeBusiness) -> None:
    owner, stranger = await make_business(), await make_business("Other")
    agent_id = await agents.create_agent(pool, owner.business_id, "Desk")
    for method in ("GET", "PUT"):
        resp = await app_client.request(method, f"/api/agents/{agent_id}/token-settings",
                                        json={"dailyTokenLimit": 1}, headers=stranger.headers)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "NOT_FOUND"
