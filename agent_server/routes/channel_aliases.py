"""The dashboard's older voice and WhatsApp calls, answered from the agents and their channel settings.

`PATCH /api/voice/{agentId}`, `GET|PATCH /api/whatsapp/{agentId}` and the two `sync` lists
predate per-channel settings; they map their names onto the agent (`name`, `system_prompt`) and
the channel (`first_message` → greeting, `voice_id` → voice, `model`/`model_id`, `temperature`,
`language`) and go through the same edit as `PATCH /api/agents/{agentId}`: a new version,
`ETag`, `If-Match` (412), 422 for a bad or unknown field, 404 for another business's agent.
Reads show what the channel uses (its effective settings), so the dashboard sees inherited
values too. `sync` no longer talks to an outside voice platform: the agents are the source of
truth, so it lists them.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from aiohttp import web

from agent_server import agent_edits, agents, auth
from agent_server.agent_config import AgentConfig, TextChannel, VoiceChannel
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.errors import NotFound, ValidationError
from agent_server.routes.agent_shapes import BusinessQuery
from agent_server.routes.agents import IF_MATCH, etag, own_agent
from agent_server.routes.agents import _expected_version as expected_version
from agent_server.routes.alias_shapes import (
    VoiceAgent,
    VoiceAgentList,
    VoiceAliasPatch,
    WhatsAppAgent,
    WhatsAppAgentList,
    WhatsAppAliasPatch,
)
from agent_server.state import POOL
from agent_server.validation import path_uuid

AliasPatch = VoiceAliasPatch | WhatsAppAliasPatch
# The dashboard's name of each channel field → the channel's own.
_CHANNEL_FIELDS = {"first_message": "greeting", "voice_id": "voice", "model": "model", "temperature": "temperature",
                   "language": "language"}


def _model(body: AliasPatch) -> str | None | msgspec.UnsetType:
    """`model` and `model_id` are one setting under two names; both sent must agree."""
    if body.model is msgspec.UNSET:
        return body.model_id
    if body.model_id is not msgspec.UNSET and body.model_id != body.model:
        raise ValidationError("model_id", "must equal model when both are sent")
    return body.model


def aliased(config: AgentConfig, body: AliasPatch, channel: Literal["voice", "whatsapp"]) -> AgentConfig:
    """`config` with the body's agent fields and its channel fields (merged into that channel's overrides)."""
    changes: dict[str, Any] = {}
    if body.name is not msgspec.UNSET:
        changes["name"] = body.name
    if body.system_prompt is not msgspec.UNSET:
        changes["system_prompt"] = body.system_prompt or ""
    sent = {"first_message": body.first_message, "voice_id": getattr(body, "voice_id", msgspec.UNSET),
            "model": _model(body), "temperature": body.temperature, "language": body.language}
    overrides = {_CHANNEL_FIELDS[k]: v for k, v in sent.items() if v is not msgspec.UNSET}
    if overrides:
        if channel == "voice":
            voice = msgspec.structs.replace(config.channels.voice or VoiceChannel(), **overrides)
            changes["channels"] = msgspec.structs.replace(config.channels, voice=voice)
        else:
            whatsapp = msgspec.structs.replace(config.channels.whatsapp or TextChannel(), **overrides)
            changes["channels"] = msgspec.structs.replace(config.channels, whatsapp=whatsapp)
    return msgspec.structs.replace(config, **changes)


def voice_agent(agent: agents.Agent) -> VoiceAgent:
    voice = agents.effective(agent).voice
    return VoiceAgent(id=str(agent.id), business_id=str(agent.business_id), name=agent.name,
                      system_prompt=agent.system_prompt, first_message=voice.greeting, voice_id=voice.voice,
                      model=voice.model, model_id=voice.model, temperature=voice.temperature,
                      language=voice.language, version=agent.version)


def whatsapp_agent(agent: agents.Agent) -> WhatsAppAgent:
    whatsapp = agents.effective(agent).whatsapp
    return WhatsAppAgent(id=str(agent.id), business_id=str(agent.business_id), name=agent.name,
                         system_prompt=agent.system_prompt, first_message=whatsapp.greeting, model=whatsapp.model,
                         model_id=whatsapp.model, temperature=whatsapp.temperature, language=whatsapp.language,
                         enabled=whatsapp.enabled, version=agent.version)


def _versioned(value: msgspec.Struct, agent: agents.Agent) -> web.Response:
    response = struct_response(value)
    response.headers["ETag"] = etag(agent.version)
    return response


async def _edit(request: web.Request, body: AliasPatch, channel: Literal["voice", "whatsapp"]) -> agents.Agent:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    user_id = await auth.current_user(request)
    pool = request.app[POOL]
    version = await agent_edits.save_config(pool, agent.id, lambda config: aliased(config, body, channel),
                                            author_id=user_id, expected_version=expected_version(request))
    updated = await agents.get_agent(pool, agent.id) if version is not None else None
    if updated is None:
        raise NotFound("no such agent")
    return updated


async def patch_voice_agent(request: web.Request) -> web.Response:
    agent = await _edit(request, await read_body(request, VoiceAliasPatch), "voice")
    return _versioned(voice_agent(agent), agent)


async def get_whatsapp_agent(request: web.Request) -> web.Response:
    agent = await own_agent(request, path_uuid(request, "agentId"))
    return _versioned(whatsapp_agent(agent), agent)


async def patch_whatsapp_agent(request: web.Request) -> web.Response:
    agent = await _edit(request, await read_body(request, WhatsAppAliasPatch), "whatsapp")
    return _versioned(whatsapp_agent(agent), agent)


async def _business_agents(request: web.Request) -> list[agents.Agent]:
    membership = await auth.business_for(request, read_query(request, BusinessQuery).business_id)
    return await agents.agents_of(request.app[POOL], membership.business_id)


async def sync_voice_agents(request: web.Request) -> web.Response:
    return struct_response(VoiceAgentList([voice_agent(a) for a in await _business_agents(request)]))


async def sync_whatsapp_agents(request: web.Request) -> web.Response:
    return struct_response(WhatsAppAgentList([whatsapp_agent(a) for a in await _business_agents(request)]))


ROUTES = (
    Route("PATCH", "/api/voice/{agentId}", patch_voice_agent,
          "Edit an agent's voice settings in the dashboard's older names (writes a new version)", "agents", "jwt",
          (Reply(200, VoiceAgent),), errors=(404, 412, 422), body=VoiceAliasPatch, headers=(IF_MATCH,)),
    Route("POST", "/api/voice/sync", sync_voice_agents, "The business's agents as the voice calls show them",
          "agents", "jwt", (Reply(200, VoiceAgentList),), errors=(403, 404), query=BusinessQuery),
    Route("GET", "/api/whatsapp/{agentId}", get_whatsapp_agent,
          "An agent's WhatsApp settings in the dashboard's older names", "agents", "jwt",
          (Reply(200, WhatsAppAgent),), errors=(404,)),
    Route("PATCH", "/api/whatsapp/{agentId}", patch_whatsapp_agent,
          "Edit an agent's WhatsApp settings in the dashboard's older names (writes a new version)", "agents",
          "jwt", (Reply(200, WhatsAppAgent),), errors=(404, 412, 422), body=WhatsAppAliasPatch, headers=(IF_MATCH,)),
    Route("POST", "/api/whatsapp/sync", sync_whatsapp_agents, "The business's agents as the WhatsApp calls show them",
          "agents", "jwt", (Reply(200, WhatsAppAgentList),), errors=(403, 404), query=BusinessQuery),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
