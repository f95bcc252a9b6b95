"""The knowledge routes on the real app: a website source crawled by the job runner, text sources, search, refusals."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestServer

from agent_server import agents
from agent_server.config import Settings
from tests.conftest import MakeBusiness, MakeClient
from tests.fake_website import FakeWebsite
from tests.knowledge.crawling import Client, fast_settings, finished


async def test_website_source_is_crawled_searched_and_synced(
        make_client: MakeClient, settings: Settings, pool: asyncpg.Pool, make_business: MakeBusiness,
        site_server: TestServer, website: FakeWebsite) -> None:
    client = await make_client(fast_settings(settings))
    tenant = await make_business()
    agent = str(await agents.create_agent(pool, tenant.business_id, "Helper"))
    base = f"/api/agents/{agent}/knowledge"
    resp = await client.post(f"{base}/sources", headers=tenant.headers,
                             json={"type": "website", "url": str(site_server.make_url("/")), "maxPages": 50})
    assert resp.status == 201, await resp.text()
    created = await resp.json()
    crawl = await finished(client, tenant, agent, created["crawlId"])
    assert crawl["status"] == "completed" and crawl["indexed"] == len(website.allowed_paths())
    assert {"url": str(site_server.make_url("/private/staff")), "reason": "disallowed by robots.txt"} \
        in crawl["skipped"]

    hits = await (await client.get(f"{base}/search", params={"q": "rent an electric bike"},
                                   headers=tenant.headers)).json()
    assert hits["results"][0]["url"].endswith("/rentals") and len(hits["results"]) <= 4

    source_id = created["source"]["id"]
    first = await client.post(f"{base}/sources/{source_id}/sync", headers=tenant.headers)
    assert first.status == 202
    running = await client.post(f"{base}/sources/{source_id}/sync", headers=tenant.headers)
    assert running.status == 409 and (await running.json())["error"]["code"] == "crawl_running"
    await finished(client, tenant, agent, (await first.json())["crawlId"])
    too_soon = await client.post(f"{base}/sources/{source_id}/sync", headers=tenant.headers)
    assert too_soon.status == 429

    assert (await client.delete(f"{base}/sources/{source_id}", headers=tenant.headers)).status == 204
    assert await pool.fetchval("SELECT count(*) FROM kb_chunks") == 0


async def test_text_source_search_and_refusals(app_client: Client, pool: asyncpg.Pool,
                                              make_business: MakeBusiness) -> None:
    tenant = await make_business()
    agent = str(await agents.create_agent(pool, tenant.business_id, "Helper"))
    base = f"/api/agents/{agent}/knowledge"
    resp = await app_client.post(f"{base}/sources", headers=tenant.headers, json={
        "type": "text", "title": "Parking", "content": "Free parking is available behind the shop on Elm Street."})
    assert resp.status == 201, await resp.text()
    hits = await (await app_client.get(f"{base}/search", params={"q": "where can I park?"},
                                       headers=tenant.headers)).json()
    assert hits["results"][0]["title"] == "Parking" and hits["results"][0]["url"] is None
    listed = await (await app_client.get(f"{base}/sources", headers=tenant.headers)).json()
    assert [s["type"] for s in listed["sources"]] == ["text"]

    for url in ("ftp://example.com/", "http://10.0.0.1/", "http://169.254.169.254/latest", "http://127.0.0.1:1/"):
        refused = await app_client.post(f"{base}/sources", headers=tenant.headers, json={"type": "website", "url": url})
        assert refused.status == 422 and (await refused.json())["error"]["code"] == "url_not_allowed", url
    too_many = await app_client.post(f"{base}/sources", headers=tenant.headers,
                                     json={"type": "website", "url": "https://example.com/", "maxPages": 5000})
    assert too_many.status == 422 and (await too_many.json())["error"]["field"] == "maxPages"
    long_q = await app_client.get(f"{base}/search", params={"q": "x" * 501}, headers=tenant.headers)
    assert long_q.status == 422
    assert await pool.fetchval("SELECT count(*) FROM kb_sources") == 1


async def test_dashboard_discover_only_lists_sitemap_pages(
        make_client: MakeClient, settings: Settings, pool: asyncpg.Pool, make_business: MakeBusiness,
        site_server: TestServer, website: FakeWebsite) -> None:
    client = await make_client(fast_settings(settings))
    tenant = await make_business()
    agent = str(await agents.create_agent(pool, tenant.business_id, "Helper"))
    resp = await client.post("/api/chatbots/crawl", headers=tenant.headers, json={
        "chatbotId": agent, "websiteUrl": str(site_server.make_url("/")), "discoverOnly": True})
    assert resp.status == 200, await resp.text()
    pages = (await resp.json())["pages"]
    assert pages == [str(site_server.make_url("/about")), str(site_server.make_url("/pricing"))]
    assert await pool.fetchval("SELECT count(*) FROM kb_sources") == 0
    assert not [p for p in website.access_log if p.startswith("/private/")]
