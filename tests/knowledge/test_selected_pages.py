"""A crawl of selected pages fetches exactly those URLs, on a site with no sitemap, through robots.txt and the guard."""

from __future__ import annotations

import asyncpg
from aiohttp.test_utils import TestServer
from yarl import URL

from agent_server import agents
from agent_server.config import Settings
from knowledge.extraction import Extractor
from tests.conftest import MakeBusiness, MakeClient
from tests.fake_website import FakeWebsite
from tests.knowledge.crawling import crawl, fast_settings, finished, spec_for


async def test_listed_pages_are_fetched_exactly_without_a_sitemap(site_server: TestServer, website: FakeWebsite,
                                                                  extractor: Extractor) -> None:
    website.has_sitemap = False
    pages = ("/news/post-3", "/pricing", "/private/staff", "https://elsewhere.example/pricing")
    report = await crawl(spec_for(site_server, pages=pages, max_pages=4), extractor)
    assert {URL(p.url).path for p in report.pages} == {"/news/post-3", "/pricing"}
    reasons = {s.url: s.reason for s in report.skipped}
    assert reasons[str(site_server.make_url("/private/staff"))] == "disallowed by robots.txt"
    assert reasons["https://elsewhere.example/pricing"] == "outside the site"
    # robots.txt, then the two pages: not the start page, no sitemap, no link followed.
    assert sorted(website.access_log) == ["/news/post-3", "/pricing", "/robots.txt"]
    assert report.found == 4 and report.fetched == 2


async def test_dashboard_crawl_of_selected_pages_indexes_those_pages(
        make_client: MakeClient, settings: Settings, pool: asyncpg.Pool, make_business: MakeBusiness,
        site_server: TestServer, website: FakeWebsite) -> None:
    website.has_sitemap = False
    client = await make_client(fast_settings(settings))
    tenant = await make_business()
    agent = str(await agents.create_agent(pool, tenant.business_id, "Helper"))
    selected = [str(site_server.make_url("/news/post-7")), "/rentals", str(site_server.make_url("/rentals"))]
    resp = await client.post("/api/chatbots/crawl", headers=tenant.headers, json={
        "chatbotId": agent, "websiteUrl": str(site_server.make_url("/")), "selectedPages": selected})
    assert resp.status == 202, await resp.text()
    body = await resp.json()
    assert body["pages"] == [str(site_server.make_url("/news/post-7")), str(site_server.make_url("/rentals"))]
    crawl_out = await finished(client, tenant, agent, body["crawlId"])
    assert crawl_out["status"] == "completed" and crawl_out["indexed"] == 2 and crawl_out["skipped"] == []
    urls = await pool.fetch("SELECT canonical_url FROM kb_pages ORDER BY canonical_url")
    assert [r["canonical_url"] for r in urls] == body["pages"]
    assert "/" not in website.access_log
    listed = await (await client.get(f"/api/agents/{agent}/knowledge/sources", headers=tenant.headers)).json()
    assert listed["sources"][0]["selectedPages"] == body["pages"]

    # A sync of the source fetches the same pages again (both unchanged: 304).
    sync = await client.post(f"/api/agents/{agent}/knowledge/sources/{body['sourceId']}/sync",
                             headers=tenant.headers)
    again = await finished(client, tenant, agent, (await sync.json())["crawlId"])
    assert again["unchanged"] == 2 and again["indexed"] == 0


async def test_a_selected_page_of_another_site_is_refused(
        make_client: MakeClient, settings: Settings, pool: asyncpg.Pool, make_business: MakeBusiness,
        site_server: TestServer) -> None:
    client = await make_client(fast_settings(settings))
    tenant = await make_business()
    agent = str(await agents.create_agent(pool, tenant.business_id, "Helper"))
    resp = await client.post("/api/chatbots/crawl", headers=tenant.headers, json={
        "chatbotId": agent, "websiteUrl": str(site_server.make_url("/")),
        "selectedPages": ["https://elsewhere.example/pricing"]})
    assert resp.status == 422 and (await resp.json())["error"]["field"] == "selectedPages"
    assert await pool.fetchval("SELECT count(*) FROM kb_sources") == 0
