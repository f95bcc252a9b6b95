"""Liveness and readiness for load balancers and process managers."""

from __future__ import annotations

import asyncio

import msgspec
from aiohttp import web

from agent_server.api.route import Reply, Route, register
from agent_server.errors import error_response
from agent_server.state import LIFECYCLE, POOL


class Status(msgspec.Struct):
    """The probe's verdict."""

    status: str


async def healthz(request: web.Request) -> web.Response:
    """The process is up (nothing else is checked: a restart would not fix a database outage)."""
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """Ready for traffic: the database answers and the process is not draining."""
    if request.app[LIFECYCLE].draining:
        return error_response(503, "DRAINING", "shutting down")
    try:
        async with asyncio.timeout(2):
            await request.app[POOL].fetchval("SELECT 1")
    except (OSError, TimeoutError, Exception) as exc:
        return error_response(503, "DATABASE_UNAVAILABLE", f"database unreachable: {type(exc).__name__}")
    return web.json_response({"status": "ready"})


ROUTES = (
    Route("GET", "/healthz", healthz, "Liveness", "health", "public", (Reply(200, Status),)),
    Route("GET", "/readyz", readyz, "Readiness: database reachable, not draining", "health", "public",
          (Reply(200, Status),), errors=(503,)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
