"""Helpers for crawler tests: a crawl of the fake website with test limits, the app's settings for it, a crawl awaited."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from agent_server.config import Settings

from knowledge.config import KnowledgeConfig
from knowledge.crawler import Crawl, CrawlReport, CrawlSpec, KnownPage
from knowledge.extraction import Extractor
from knowledge.fetcher import Fetcher
from knowledge.pacing import HostPacer
from knowledge.url_guard import guarded_session
from tests.conftest import Tenant

Client = TestClient[web.Request, web.Application]

# Fast enough for the suite: the site's Crawl-delay (5 ms) paces it, the slow page outlasts 0.5 s.
TEST_CONFIG = KnowledgeConfig(allowed_private_hosts=("127.0.0.1",), request_interval_seconds=0.001,
                              response_timeout_seconds=0.5)


def spec_for(server: TestServer, **overrides: object) -> CrawlSpec:
    fields: dict[str, object] = {"start_url": str(server.make_url("/")), "max_pages": 100, "max_depth": 5}
    fields.update(overrides)
    return CrawlSpec(**fields)  # type: ignore[arg-type]


async def crawl(spec: CrawlSpec, extractor: Extractor, *, known: Mapping[str, KnownPage] | None = None,
                config: KnowledgeConfig = TEST_CONFIG) -> CrawlReport:
    pacer = HostPacer(config.request_interval_seconds)
    async with guarded_session(config.allowed_private_hosts, connections_per_host=config.connections_per_host,
                               user_agent="AgentServerBot/test (+https://agent.example.test)") as session:
        return await Crawl(spec, config, Fetcher(session, config, pacer), pacer, extractor, known or {}).run()


def with_config(**changes: object) -> KnowledgeConfig:
    return dataclasses.replace(TEST_CONFIG, **changes)  # type: ignore[arg-type]


def fast_settings(settings: Settings) -> Settings:
    """The app's settings for crawling the fake website on 127.0.0.1 quickly, jobs polled every 50 ms."""
    knowledge = dataclasses.replace(settings.knowledge, allowed_private_hosts=("127.0.0.1",),
                                    request_interval_seconds=0.001, response_timeout_seconds=0.5)
    return dataclasses.replace(settings, knowledge=knowledge,
                               jobs=dataclasses.replace(settings.jobs, poll_interval_seconds=0.05))


async def finished(client: Client, tenant: Tenant, agent: str, crawl_id: str) -> dict[str, Any]:
    """The crawl's JSON once it completed or failed (polled through the route)."""
    for _ in range(400):
        resp = await client.get(f"/api/agents/{agent}/knowledge/crawls/{crawl_id}", headers=tenant.headers)
        body: dict[str, Any] = await resp.json()
        if body["status"] in ("completed", "failed"):
            return body
        await asyncio.sleep(0.05)
    raise AssertionError(f"crawl still {body['status']}")
