"""Helpers for crawler tests: the fake website served on 127.0.0.1 and a crawl of it with test limits."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from aiohttp.test_utils import TestServer

from knowledge.config import KnowledgeConfig
from knowledge.crawler import Crawl, CrawlReport, CrawlSpec, KnownPage
from knowledge.extraction import Extractor
from knowledge.fetcher import Fetcher
from knowledge.pacing import HostPacer
from knowledge.url_guard import guarded_session

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
