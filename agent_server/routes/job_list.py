"""A business's own background jobs, e.g. the failed ones: what went wrong, and after how many attempts."""

from __future__ import annotations

from typing import Literal

import msgspec
from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_query
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Instant, Query, Uuid
from agent_server.state import POOL
from jobs import queue

LIMIT = 100


class JobsQuery(Query):
    business_id: Uuid | None = None
    status: Literal["queued", "running", "succeeded", "failed"] | None = None


class JobView(msgspec.Struct, rename="camel", kw_only=True):
    """One job; `lastError` is the latest failed attempt's error (null once it succeeded)."""

    id: int
    kind: str
    status: str
    attempts: int
    last_error: str | None
    run_at: Instant
    created_at: Instant
    updated_at: Instant
    finished_at: Instant | None


class JobList(msgspec.Struct, rename="camel", kw_only=True):
    business_id: Uuid
    jobs: list[JobView]


async def list_jobs(request: web.Request) -> web.Response:
    query = read_query(request, JobsQuery)
    membership = await auth.business_for(request, query.business_id)
    records = await queue.list_for_business(request.app[POOL], membership.business_id, status=query.status,
                                            limit=LIMIT)
    views = [JobView(id=r.id, kind=r.kind, status=r.status, attempts=r.attempts, last_error=r.last_error,
                     run_at=r.run_at.isoformat(), created_at=r.created_at.isoformat(),
                     updated_at=r.updated_at.isoformat(),
                     finished_at=r.finished_at.isoformat() if r.finished_at else None) for r in records]
    body = msgspec.json.encode(JobList(business_id=str(membership.business_id), jobs=views))
    return web.Response(body=body, content_type="application/json")


ROUTES = (
    Route("GET", "/api/jobs", list_jobs, f"The business's background jobs, newest first (at most {LIMIT})",
          "operations", "jwt", (Reply(200, JobList),), errors=(403, 404), query=JobsQuery),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
