"""The knowledge base of an agent: website and text sources, their crawls, and search over what they hold.

Every route is scoped to the agent's business: another business's agent, source or crawl
answers 404 exactly like a missing one. A website source is crawled by a `knowledge.crawl`
job (`agent_server/job_runner.py`), never in the request; the job is queued in the same
transaction as the crawl row, so one never exists without the other.
"""

from __future__ import annotations

import datetime
import uuid
from importlib.metadata import version

from aiohttp import web
from yarl import URL

from agent_server import auth, knowledge_embeddings
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.errors import NotFound, ValidationError, register_error
from agent_server.routes import knowledge_shapes as shapes
from agent_server.routes.agents import own_agent
from agent_server.state import POOL, SETTINGS
from agent_server.validation import path_uuid
from jobs.runner import utc_now
from knowledge import hybrid, index, store
from knowledge.crawler import CrawlReport
from knowledge.crawl_job import caps_of, discover, queue_crawl_job
from knowledge.embedding_job import queue_embedding
from knowledge.errors import CrawlRunning, KnowledgeLimitReached, SyncTooSoon, TooManyCrawls, UrlNotAllowed
from knowledge.languages import search_config
from knowledge.robots import user_agent
from knowledge.url_guard import check_url
from knowledge.urls import normalize, same_site
from storage.executor import Executor
from storage.transactions import transaction


def crawler_user_agent(request: web.Request) -> str:
    """`AgentServerBot/<version> (+PUBLIC_URL)`."""
    return user_agent(version("agent-server"), request.app[SETTINGS].server.public_url)


def _iso(value: datetime.datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _source_out(source: store.Source) -> shapes.SourceOut:
    return shapes.SourceOut(
        id=str(source.id), agent_id=str(source.agent_id), type=source.kind, url=source.url, title=source.title,
        max_pages=source.max_pages, max_depth=source.max_depth, include=list(source.include),
        exclude=list(source.exclude), refresh=source.refresh, active_version=source.active_version,
        created_at=source.created_at.isoformat(), selected_pages=list(source.page_urls))


def _checked_url(raw: str | None, field: str, allowed_private_hosts: tuple[str, ...]) -> str:
    url = normalize(raw or "")
    if url is None:
        raise UrlNotAllowed(f"{field}: only http and https URLs are crawled")
    check_url(url, allowed_private_hosts)
    return str(url)


async def _queue_crawl(db: Executor, request: web.Request, source: store.Source, *, manual: bool) -> uuid.UUID:
    return await queue_crawl_job(db, source, request.app[SETTINGS].knowledge, now=utc_now(), manual=manual)


async def create_source(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    body = await read_body(request, shapes.SourceCreate)
    pool, config = request.app[POOL], request.app[SETTINGS].knowledge
    await index.check_room(pool, agent.business_id, caps_of(config))
    if body.type == "text":
        if not body.title or not body.content:
            raise ValidationError("title" if not body.title else "content", "is required for a text source")
        async with transaction(pool) as conn:
            source = await store.create_source(conn, business_id=agent.business_id, agent_id=agent.id,
                                               kind="text", title=body.title)
            report = CrawlReport(pages=[index.text_page(source, body.title, body.content)])
            version = await index.publish(conn, source, report, caps=caps_of(config),
                                          language=search_config(agent.language), now=utc_now())
            if request.app.get(knowledge_embeddings.EMBEDDER) is not None:
                await queue_embedding(conn, source.id, agent.business_id, version, now=utc_now())
        source = await store.get_source(pool, source.id, agent.id) or source
        return struct_response(shapes.SourceCreated(_source_out(source), None), status=201)
    url = _checked_url(body.url, "url", config.allowed_private_hosts)
    async with transaction(pool) as conn:
        source = await store.create_source(
            conn, business_id=agent.business_id, agent_id=agent.id, kind="website", url=url, title=url,
            max_pages=body.max_pages, max_depth=body.max_depth, include=tuple(body.include),
            exclude=tuple(body.exclude), refresh=body.refresh)
        crawl_id = await _queue_crawl(conn, request, source, manual=False)
    return struct_response(shapes.SourceCreated(_source_out(source), str(crawl_id)), status=201)


async def list_sources(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    found = await store.sources_of(request.app[POOL], agent.id)
    return struct_response(shapes.SourceList([_source_out(s) for s in found]))


async def get_crawl(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    crawl = await store.get_crawl(request.app[POOL], path_uuid(request, "crawlId"), agent.id)
    if crawl is None:
        raise NotFound("no such crawl")
    return struct_response(shapes.CrawlOut(
        id=str(crawl.id), source_id=str(crawl.source_id), status=crawl.status, found=crawl.found,
        fetched=crawl.fetched, indexed=crawl.indexed, unchanged=crawl.unchanged,
        skipped=[shapes.Skip(s["url"], s["reason"]) for s in crawl.skipped], error=crawl.error,
        created_at=crawl.created_at.isoformat(), started_at=_iso(crawl.started_at),
        finished_at=_iso(crawl.finished_at)))


async def _source(request: web.Request) -> store.Source:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    source = await store.get_source(request.app[POOL], path_uuid(request, "sourceId"), agent.id)
    if source is None:
        raise NotFound("no such source")
    return source


async def sync_source(request: web.Request) -> web.Response:
    source = await _source(request)
    if source.kind != "website":
        raise ValidationError("sourceId", "only a website source is crawled")
    crawl_id = await _queue_crawl(request.app[POOL], request, source, manual=True)
    return struct_response(shapes.SyncStarted(str(crawl_id)), status=202)


async def delete_source(request: web.Request) -> web.Response:
    source = await _source(request)
    await store.delete_source(request.app[POOL], source.id, source.agent_id)
    return web.Response(status=204)


async def search(request: web.Request) -> web.Response:
    """The chunks an answer to `q` would be grounded in (with embeddings on: fused, scored by reciprocal rank)."""
    agent = await own_agent(request, path_uuid(request, "agentId"))
    query = read_query(request, shapes.SearchQuery)
    config = request.app[SETTINGS].knowledge
    hits = await hybrid.search(request.app[POOL], agent.id, query.q, language=search_config(agent.language),
                               limit=config.top_chunks, embedder=request.app.get(knowledge_embeddings.EMBEDDER),
                               timeout=config.embeddings.query_timeout_seconds)
    return struct_response(shapes.SearchResults([
        shapes.SearchHit(h.score, h.title, h.url, h.heading_path, h.content) for h in hits]))


async def dashboard_crawl(request: web.Request) -> web.Response:
    """The dashboard's call: candidates only (`discoverOnly`), or a website source for the chatbot."""
    await auth.current_user(request)
    body = await read_body(request, shapes.DashboardCrawl)
    try:
        agent = await own_agent(request, uuid.UUID(body.chatbot_id))
    except ValueError:
        raise NotFound("no such agent") from None
    config = request.app[SETTINGS].knowledge
    url = _checked_url(body.website_url, "websiteUrl", config.allowed_private_hosts)
    if body.discover_only:
        pages = await discover(config, crawler_user_agent(request), url, limit=50)
        return struct_response(shapes.DashboardCrawlOut(pages))
    pool = request.app[POOL]
    await index.check_room(pool, agent.business_id, caps_of(config))
    selected = _selected_pages(body.selected_pages, URL(url))
    async with transaction(pool) as conn:
        source = await store.create_source(
            conn, business_id=agent.business_id, agent_id=agent.id, kind="website", url=url, title=url,
            max_pages=len(selected) if selected else body.max_pages, page_urls=tuple(selected))
        crawl_id = await _queue_crawl(conn, request, source, manual=False)
    return struct_response(shapes.DashboardCrawlOut(selected, str(source.id), str(crawl_id)), status=202)


def _selected_pages(raw_pages: list[str], site: URL) -> list[str]:
    """The dashboard's chosen pages (relative ones resolved against the site), each on the site, once.

    They become the source's exact page list: its crawls fetch those URLs (through the address
    guard and robots.txt) and follow no link, so a page is indexed whether or not a sitemap or
    the start page leads to it.
    """
    pages: list[str] = []
    for raw in raw_pages:
        page = normalize(raw, site)
        if page is None or not same_site(page, site):
            raise ValidationError("selectedPages", f"{raw!r} is not a page of {site}")
        pages.append(str(page))
    return list(dict.fromkeys(pages))


_BASE = "/api/agents/{agentId}/knowledge"
ROUTES = (
    Route("POST", f"{_BASE}/sources", create_source, "Add a website (crawled by a job) or a text to the agent's"
          " knowledge", "knowledge", "jwt", (Reply(201, shapes.SourceCreated, description="Created"),),
          errors=(404, 409, 422, 429), body=shapes.SourceCreate),
    Route("GET", f"{_BASE}/sources", list_sources, "The agent's knowledge sources", "knowledge", "jwt",
          (Reply(200, shapes.SourceList),), errors=(404,)),
    Route("GET", f"{_BASE}/crawls/{{crawlId}}", get_crawl, "A crawl's status, counts and skips", "knowledge",
          "jwt", (Reply(200, shapes.CrawlOut),), errors=(404,)),
    Route("POST", f"{_BASE}/sources/{{sourceId}}/sync", sync_source, "Crawl a website source again", "knowledge",
          "jwt", (Reply(202, shapes.SyncStarted, description="Queued"),), errors=(404, 409, 422, 429)),
    Route("DELETE", f"{_BASE}/sources/{{sourceId}}", delete_source, "Delete a source with its pages and chunks",
          "knowledge", "jwt", (Reply(204, description="Deleted"),), errors=(404,)),
    Route("GET", f"{_BASE}/search", search, "The agent's best chunks for a question", "knowledge", "jwt",
          (Reply(200, shapes.SearchResults),), errors=(404, 422), query=shapes.SearchQuery),
    Route("POST", "/api/chatbots/crawl", dashboard_crawl, "The dashboard's website crawl of a chatbot",
          "knowledge", "jwt", (Reply(200, shapes.DashboardCrawlOut), Reply(202, shapes.DashboardCrawlOut,
                                                                             description="Queued")),
          errors=(404, 409, 422, 429), body=shapes.DashboardCrawl),
)


def setup(app: web.Application) -> None:
    register_error(UrlNotAllowed, 422, "url_not_allowed")
    register_error(KnowledgeLimitReached, 409, "knowledge_limit_reached")
    register_error(CrawlRunning, 409, "crawl_running")
    register_error(SyncTooSoon, 429, "sync_too_soon")
    register_error(TooManyCrawls, 429, "too_many_crawls")
    register(app, ROUTES)
    knowledge_embeddings.setup(app)
