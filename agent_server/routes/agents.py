"""Agents for the dashboard: list, create, read, edit and delete the agents of a business.

Every edit is a new immutable version (`agent_server.agent_edits`); responses carry
`ETag: "v{n}"` and a PATCH with `If-Match` naming an older version is refused with 412
VERSION_CONFLICT (without `If-Match` the last write wins). Another business's agent answers 404
exactly like a missing one, and so does a deleted agent.
"""

from __future__ import annotations

import re
import uuid

import msgspec
from aiohttp import web

from agent_server import agent_edits, agents, auth
from agent_server.agent_config import AgentConfig, resolve
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Header, Link, Reply, Route, register
from agent_server.errors import NotFound, register_error
from agent_server.routes.agent_shapes import AgentCreate, AgentList, AgentOut, AgentPatch, BusinessQuery
from agent_server.state import POOL
from agent_server.validation import path_uuid
from llm_usage import token_settings

_IF_MATCH = re.compile(r'^\s*(?:W/)?"v(\d{1,9})"\s*$')
IF_MATCH = Header("If-Match", 'The version the edit starts from, as its ETag ("v3"); a stale one is a 412')


def etag(version: int) -> str:
    return f'"v{version}"'


def agent_out(agent: agents.Agent, *, effective: bool = False) -> AgentOut:
    config = agents.config_of(agent)
    return AgentOut(
        id=str(agent.id), business_id=str(agent.business_id), name=agent.name, system_prompt=agent.system_prompt,
        greeting=agent.greeting, voice=agent.voice, language=agent.language, model=agent.model,
        temperature=agent.temperature, transfer_number=agent.transfer_number, faq=config.faq,
        allowed_origins=list(agent.allowed_origins), active=agent.active, channels=agent.channels,
        version=agent.version, handoff_tickets=agent.handoff_tickets,
        effective=resolve(config, agent.widget_theme) if effective else msgspec.UNSET)


def agent_response(agent: agents.Agent, status: int = 200) -> web.Response:
    response = struct_response(agent_out(agent, effective=True), status=status)
    response.headers["ETag"] = etag(agent.version)
    return response


async def own_agent(request: web.Request, agent_id: uuid.UUID) -> agents.Agent:
    """The live agent, if the caller is a member of its business; 404 otherwise, the same for every reason."""
    await auth.current_user(request)
    agent = await agents.get_agent(request.app[POOL], agent_id)
    if agent is None:
        raise NotFound("no such agent")
    try:
        await auth.business_for(request, str(agent.business_id))
    except NotFound:
        raise NotFound("no such agent") from None
    return agent


async def list_agents(request: web.Request) -> web.Response:
    membership = await auth.business_for(request, read_query(request, BusinessQuery).business_id)
    found = await agents.agents_of(request.app[POOL], membership.business_id)
    return struct_response(AgentList([agent_out(a) for a in found]))


async def create_agent(request: web.Request) -> web.Response:
    user_id = await auth.current_user(request)
    body = await read_body(request, AgentCreate)
    membership = await auth.business_for(request, body.business_id)
    pool = request.app[POOL]
    agent_id = await agents.create_agent(
        pool, membership.business_id, body.name, system_prompt=body.system_prompt, greeting=body.greeting,
        voice=body.voice, language=body.language, faq=[agents.FaqEntry(e.question, e.answer) for e in body.faq],
        transfer_number=body.transfer_number, allowed_origins=[o.rstrip("/") for o in body.allowed_origins],
        model=body.model, temperature=body.temperature, active=body.active, channels=body.channels,
        author_id=user_id, handoff_tickets=body.handoff_tickets)
    agent = await agents.get_agent(pool, agent_id)
    assert agent is not None
    return agent_response(agent, status=201)


async def get_agent(request: web.Request) -> web.Response:
    return agent_response(await own_agent(request, path_uuid(request, "agentId")))


def _expected_version(request: web.Request) -> int | None:
    """The version `If-Match` names; None when absent or `*`. Anything else no version carries: a 412."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    match = _IF_MATCH.match(raw)
    return int(match.group(1)) if match else -1


def patched(config: AgentConfig, body: AgentPatch) -> AgentConfig:
    """`config` with the fields the body sent; a cleared text is "", a channel sent replaces that channel."""
    changes = {name: value for name in AgentPatch.__struct_fields__
               if (value := getattr(body, name)) is not msgspec.UNSET and name != "channels"
               and name not in token_settings.WIRE_FIELDS}
    for name in ("system_prompt", "greeting", "voice", "model"):
        if name in changes and changes[name] is None:
            changes[name] = ""
    if "allowed_origins" in changes:
        changes["allowed_origins"] = [o.rstrip("/") for o in changes["allowed_origins"]]
    if not isinstance(body.channels, msgspec.UnsetType):
        sent = {f: v for f in body.channels.__struct_fields__ if (v := getattr(body.channels, f)) is not None}
        changes["channels"] = msgspec.structs.replace(config.channels, **sent)
    return msgspec.structs.replace(config, **changes)


async def patch_agent(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    user_id = await auth.current_user(request)
    body = await read_body(request, AgentPatch)
    pool = request.app[POOL]
    tokens = token_settings.wire_changes(body)
    configured = any(getattr(body, name) is not msgspec.UNSET for name in AgentPatch.__struct_fields__
                     if name not in token_settings.WIRE_FIELDS)
    # Token settings alone write no version: they are spending limits, kept apart from the configuration.
    version = agent.version if tokens and not configured else await agent_edits.save_config(
        pool, agent.id, lambda config: patched(config, body), author_id=user_id,
        expected_version=_expected_version(request))
    if tokens and version is not None:
        await token_settings.update(pool, agent.id, tokens)
    updated = await agents.get_agent(pool, agent.id) if version is not None else None
    if updated is None:
        raise NotFound("no such agent")
    return agent_response(updated)


async def delete_agent(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    if not await agent_edits.delete_agent(request.app[POOL], agent.id):
        raise NotFound("no such agent")
    return web.Response(status=204)


# The stateful fuzz walks these from a created agent (tests/agent_server/api/linked_flows.py).
_LINKS = {"GetAgent": Link("get_agent", {"agentId": "$response.body#/id"}),
          "EditAgent": Link("patch_agent", {"agentId": "$response.body#/id"}),
          "AgentVersions": Link("list_versions", {"agentId": "$response.body#/id"}),
          "DeleteAgent": Link("delete_agent", {"agentId": "$response.body#/id"})}

ROUTES = (
    Route("GET", "/api/agents", list_agents, "The business's agents", "agents", "jwt", (Reply(200, AgentList),),
          errors=(403, 404), query=BusinessQuery),
    Route("POST", "/api/agents", create_agent, "Create an agent", "agents", "jwt",
          (Reply(201, AgentOut, description="Created", links=_LINKS),), errors=(403, 404), body=AgentCreate),
    Route("GET", "/api/agents/{agentId}", get_agent, "One agent, with what each channel uses", "agents", "jwt",
          (Reply(200, AgentOut),), errors=(404,)),
    Route("PATCH", "/api/agents/{agentId}", patch_agent, "Edit an agent (writes a new version)", "agents", "jwt",
          (Reply(200, AgentOut),), errors=(404, 412), body=AgentPatch, headers=(IF_MATCH,)),
    Route("DELETE", "/api/agents/{agentId}", delete_agent, "Delete an agent no live number routes to", "agents",
          "jwt", (Reply(204, description="Deleted"),), errors=(404, 409)),
)


def setup(app: web.Application) -> None:
    register_error(agent_edits.VersionConflict, 412, "VERSION_CONFLICT")
    register_error(agent_edits.AgentInUse, 409, "AGENT_IN_USE")
    register(app, ROUTES)
