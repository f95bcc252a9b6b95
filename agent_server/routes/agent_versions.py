"""An agent's history: its versions, newest first, and restoring one as a new version.

A restore never rewrites history: it writes the next version with the old configuration (and
today's author), so the version it replaced stays restorable too.
"""

from __future__ import annotations

from aiohttp import web

from agent_server import agent_edits, agents, auth
from agent_server.api.decoding import read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.errors import NotFound
from agent_server.routes.agent_shapes import AgentOut, VersionList, VersionOut, VersionQuery
from agent_server.routes.agents import agent_response, own_agent
from agent_server.state import POOL
from agent_server.validation import path_uuid


def _version_number(request: web.Request) -> int:
    """The `{version}` path segment; anything but a positive number is a version that does not exist."""
    raw = request.match_info["version"]
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) < 2**31:
        raise NotFound("no such version")
    return int(raw)


def _out(version: agent_edits.Version) -> VersionOut:
    return VersionOut(version=version.version, config=version.config,
                      author_id=None if version.author_id is None else str(version.author_id),
                      created_at=version.created_at.isoformat())


async def list_versions(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    limit = read_query(request, VersionQuery).limit
    found = await agent_edits.versions_of(request.app[POOL], agent.id, limit)
    return struct_response(VersionList([_out(v) for v in found]))


async def restore_version(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    user_id = await auth.current_user(request)
    pool = request.app[POOL]
    old = await agent_edits.get_version(pool, agent.id, _version_number(request))
    if old is None:
        raise NotFound("no such version")
    written = await agent_edits.save_config(pool, agent.id, lambda _current: old.config, author_id=user_id)
    restored = await agents.get_agent(pool, agent.id) if written is not None else None
    if restored is None:
        raise NotFound("no such agent")
    return agent_response(restored)


ROUTES = (
    Route("GET", "/api/agents/{agentId}/versions", list_versions, "The agent's versions, newest first", "agents",
          "jwt", (Reply(200, VersionList),), errors=(404,), query=VersionQuery),
    Route("POST", "/api/agents/{agentId}/versions/{version}/restore", restore_version,
          "Make an old version current again (written as a new version)", "agents", "jwt",
          (Reply(200, AgentOut),), errors=(404,)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
