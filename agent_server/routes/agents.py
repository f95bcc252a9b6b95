"""Agents for the dashboard: list and create the agents of a business."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from agent_server import agents, auth
from agent_server.errors import ValidationError
from agent_server.state import POOL
from agent_server.validation import get_str, read_json
from phone_numbers.registry import E164


def agent_json(agent: agents.Agent) -> dict[str, Any]:
    return {
        "id": str(agent.id), "businessId": str(agent.business_id), "name": agent.name,
        "systemPrompt": agent.system_prompt, "greeting": agent.greeting, "voice": agent.voice,
        "language": agent.language, "transferNumber": agent.transfer_number,
        "faq": [{"question": e.question, "answer": e.answer} for e in agent.faq],
        "allowedOrigins": list(agent.allowed_origins), "active": agent.active,
    }


async def list_agents(request: web.Request) -> web.Response:
    membership = await auth.business_for(request, request.query.get("businessId"))
    found = await agents.agents_of(request.app[POOL], membership.business_id)
    return web.json_response({"agents": [agent_json(a) for a in found]})


async def create_agent(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_json(request)
    membership = await auth.business_for(request, body.get("businessId"))
    name = get_str(body, "name", max_length=200)
    transfer = get_str(body, "transferNumber", default=None, max_length=16)
    if transfer is not None and not E164.match(transfer):
        raise ValidationError("transferNumber", "must be an E.164 phone number")
    try:
        faq = agents.parse_faq(body.get("faq", []))
    except ValueError as exc:
        raise ValidationError("faq", str(exc)) from None
    origins = body.get("allowedOrigins", [])
    if not (isinstance(origins, list) and all(isinstance(o, str) and o.startswith(("http://", "https://"))
                                              for o in origins)):
        raise ValidationError("allowedOrigins", "must be a list of http(s) origins")
    pool = request.app[POOL]
    agent_id = await agents.create_agent(
        pool, membership.business_id, name,
        system_prompt=get_str(body, "systemPrompt", default="", max_length=20_000),
        greeting=get_str(body, "greeting", default="", max_length=1_000),
        voice=get_str(body, "voice", default="", max_length=100),
        language=get_str(body, "language", default="en-US", max_length=20),
        faq=faq, transfer_number=transfer, allowed_origins=[o.rstrip("/") for o in origins])
    agent = await agents.get_agent(pool, agent_id)
    assert agent is not None
    return web.json_response(agent_json(agent), status=201)


def setup(app: web.Application) -> None:
    app.router.add_get("/api/agents", list_agents)
    app.router.add_post("/api/agents", create_agent)
