"""Declared shapes of the knowledge routes: sources (website or text), crawls, search results."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from agent_server.api.shapes import Body, Instant, Query, Uuid

Pattern = Annotated[str, msgspec.Meta(max_length=200, description="a path pattern, `*` matching anything")]


class SourceCreate(Body):
    """A website to crawl (`url`, limits, patterns) or a text to index as it is (`title`, `content`)."""

    type: Literal["website", "text"]
    url: Annotated[str, msgspec.Meta(max_length=2000)] | None = None
    max_pages: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100
    max_depth: Annotated[int, msgspec.Meta(ge=0, le=10)] = 5
    include: Annotated[list[Pattern], msgspec.Meta(max_length=50)] = []
    exclude: Annotated[list[Pattern], msgspec.Meta(max_length=50)] = []
    refresh: Literal["never", "daily", "weekly"] = "never"
    title: Annotated[str, msgspec.Meta(max_length=300)] | None = None
    content: Annotated[str, msgspec.Meta(max_length=200_000)] | None = None


class SourceOut(msgspec.Struct, rename="camel"):
    id: Uuid
    agent_id: Uuid
    type: str
    url: str | None
    title: str
    max_pages: int
    max_depth: int
    include: list[str]
    exclude: list[str]
    refresh: str
    active_version: int
    created_at: Instant
    # The exact pages its crawls fetch (the dashboard's selection); empty: the whole site.
    selected_pages: list[str] = []


class SourceCreated(msgspec.Struct, rename="camel"):
    source: SourceOut
    crawl_id: Uuid | None


class SourceList(msgspec.Struct):
    sources: list[SourceOut]


class Skip(msgspec.Struct):
    url: str
    reason: str


class CrawlOut(msgspec.Struct, rename="camel"):
    id: Uuid
    source_id: Uuid
    status: Literal["queued", "running", "completed", "failed", "canceled"]
    found: int
    fetched: int
    indexed: int
    unchanged: int
    skipped: list[Skip]
    error: str | None
    created_at: Instant
    started_at: Instant | None
    finished_at: Instant | None


class SyncStarted(msgspec.Struct, rename="camel"):
    crawl_id: Uuid


class SearchQuery(Query):
    q: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class SearchHit(msgspec.Struct, rename="camel"):
    score: float
    title: str
    url: str | None
    heading_path: str
    content: str


class SearchResults(msgspec.Struct):
    results: list[SearchHit]


class DashboardCrawl(Body):
    """The dashboard's crawl call: index a chatbot's website, or only list candidate pages (`discoverOnly`)."""

    chatbot_id: Uuid
    website_url: Annotated[str, msgspec.Meta(max_length=2000)]
    max_pages: Annotated[int, msgspec.Meta(ge=1, le=100)] = 10
    discover_only: bool = False
    selected_pages: Annotated[list[Annotated[str, msgspec.Meta(max_length=2000)]], msgspec.Meta(max_length=100)] = []


class DashboardCrawlOut(msgspec.Struct, rename="camel"):
    pages: list[str]
    source_id: Uuid | None = None
    crawl_id: Uuid | None = None
