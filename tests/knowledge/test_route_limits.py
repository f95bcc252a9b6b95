"""The knowledge routes' limits: crawls running at once per business (429) and the business's caps (409), nothing written."""

from __future__ import annotations

import dataclasses

import asyncpg
from aiohttp.test_utils import TestServer

from agent_server import agents
from agent_server.config import Settings
from tests.conftest import MakeBusiness, MakeClient
from tests.knowledge.crawling import fast_settings


def _queued_only(settings: Settings, **knowledge: object) -> Settings:
    """No job runner in the app: every crawl stays queued, so it counts as running."""
    settings = fast_settings(settings)
    return dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs, run_in_process=False),
                               knowledge=dataclasses.replace(settings.knowledge, **knowledge))  # type: ignore[arg-type]


async def test_a_fourth_crawl_running_for_a_business_is_refused_with_429(
        make_client: MakeClient, settings: Settings, pool: asyncpg.Pool, make_business: MakeBusiness,
        site_server: TestServer) -> None:
    client = await make_client(_queued_only(settings))
    tenant = await make_business()
    agent = str(await agents.create_agent(pool, tenant.business_id, "Helper"))
    other_agent = str(await agents.create_agent(pool, tenant.business_id, "Sales"))
    site = str(site_server.make_url("/"))
    for n, owner in enumerate((agent, agent, other_agent)):
        resp = await client.post(f"/api/agents/{owner}/knowledge/sources", headers=tenant.headers,
                                 json={"type": "website", "url": f"{site}?n={n}"})
        assert resp.status == 201, await resp.text()

    fourth = await client.post(f"/api/agents/{other_agent}/knowledge/sources", headers=tenant.headers,
                               json={"type": "website", "url": site})
    assert fourth.status == 429 and (await fourth.json())["error"]["code"] == "too_many_crawls"
    dashboard = await client.post("/api/chatbots/crawl", headers=tenant.headers,
                                  json={"chatbotId": agent, "websiteUrl": site})
    assert dashboard.status == 429 and (await dashboard.json())["error"]["code"] == "too_many_crawls"
    assert await pool.fetchval("SELECT count(*) FROM kb_sources") == 3
    assert await pool.fetchval("SELECT count(*) FROM jobs WHERE kind = 'knowledge.crawl'") == 3

    # Another business has its own allowance.
    stranger = await make_business("Other")
    theirs = str(await agents.create_agent(pool, stranger.business_id, "Theirs"))
    resp = await client.post(f"/api/agents/{theirs}/knowledge/sources", headers=stranger.headers,
                             json={"type": "website", "url": site})
    assert resp.status == 201


async def test_a_business_at_its_cap_gets_409_knowledge_limit_reached(
        make_client: MakeClient, settings: Settings, pool: asyncpg.Pool, make_business: MakeBusiness,
        site_server: TestServer) -> None:
    client = await make_client(_queued_only(settings, max_pages_per_business=1))
    tenant = await make_business()
    agent = str(await agents.create_agent(pool, tenant.business_id, "Helper"))
    base = f"/api/agents/{agent}/knowledge/sources"
    first = await client.post(base, headers=tenant.headers,
                              json={"type": "text", "title": "Parking", "content": "Park behind the shop."})
    assert first.status == 201, await first.text()

    refusals = [
        await client.post(base, headers=tenant.headers,
                          json={"type": "text", "title": "Hours", "content": "Open from nine to five."}),
        await client.post(base, headers=tenant.headers,
                          json={"type": "website", "url": str(site_server.make_url("/"))}),
        await client.post("/api/chatbots/crawl", headers=tenant.headers,
                          json={"chatbotId": agent, "websiteUrl": str(site_server.make_url("/"))}),
    ]
    for resp in refusals:
        assert resp.status == 409 and (await resp.json())["error"]["code"] == "knowledge_limit_reached"
    assert await pool.fetchval("SELECT count(*) FROM kb_sources") == 1
    assert await pool.fetchval("SELECT count(*) FROM kb_crawls") == 0
    assert await pool.fetchval("SELECT count(*) FROM kb_pages") == 1
