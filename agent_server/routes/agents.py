"""Agents for the dashboard: list and create the agents of a business."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from agent_server import agents, auth
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import OPTIONAL_E164_PATTERN, Body, Query, Uuid
from agent_server.state import POOL


class Faq(msgspec.Struct):
    """A question the agent answers word for word, without asking the model."""

    question: str
    answer: str

    def __post_init__(self) -> None:
        self.question, self.answer = self.question.strip(), self.answer.strip()
        if not (self.question and self.answer):
            raise ValueError("a FAQ entry needs non-empty question and answer")


Origin = Annotated[str, msgspec.Meta(pattern=r"^https?://", description="an http(s) origin allowed to embed the widget")]


class AgentCreate(Body):
    """A new agent; only `name` is required."""

    name: Annotated[str, msgspec.Meta(max_length=200)]
    business_id: Uuid | None = None
    system_prompt: Annotated[str, msgspec.Meta(max_length=20_000)] = ""
    greeting: Annotated[str, msgspec.Meta(max_length=1_000)] = ""
    voice: Annotated[str, msgspec.Meta(max_length=100)] = ""
    language: Annotated[str, msgspec.Meta(max_length=20)] = "en-US"
    transfer_number: Annotated[str, msgspec.Meta(max_length=16, pattern=OPTIONAL_E164_PATTERN)] | None = None
    faq: list[Faq] = []
    allowed_origins: list[Origin] = []


class AgentOut(msgspec.Struct, rename="camel"):
    """An agent as the dashboard shows it."""

    id: Uuid
    business_id: Uuid
    name: str
    system_prompt: str
    greeting: str
    voice: str
    language: str
    transfer_number: str | None
    faq: list[Faq]
    allowed_origins: list[str]
    active: bool


class AgentList(msgspec.Struct):
    agents: list[AgentOut]


class BusinessQuery(Query):
    """Which business; may be left out by a user who belongs to exactly one."""

    business_id: Uuid | None = None


def agent_out(agent: agents.Agent) -> AgentOut:
    return AgentOut(
        id=str(agent.id), business_id=str(agent.business_id), name=agent.name, system_prompt=agent.system_prompt,
        greeting=agent.greeting, voice=agent.voice, language=agent.language, transfer_number=agent.transfer_number,
        faq=[Faq(e.question, e.answer) for e in agent.faq], allowed_origins=list(agent.allowed_origins),
        active=agent.active)


async def list_agents(request: web.Request) -> web.Response:
    membership = await auth.business_for(request, read_query(request, BusinessQuery).business_id)
    found = await agents.agents_of(request.app[POOL], membership.business_id)
    return struct_response(AgentList([agent_out(a) for a in found]))


async def create_agent(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, AgentCreate)
    membership = await auth.business_for(request, body.business_id)
    pool = request.app[POOL]
    agent_id = await agents.create_agent(
        pool, membership.business_id, body.name, system_prompt=body.system_prompt, greeting=body.greeting,
        voice=body.voice, language=body.language, faq=[agents.FaqEntry(e.question, e.answer) for e in body.faq],
        transfer_number=body.transfer_number, allowed_origins=[o.rstrip("/") for o in body.allowed_origins])
    agent = await agents.get_agent(pool, agent_id)
    assert agent is not None
    return struct_response(agent_out(agent), status=201)


ROUTES = (
    Route("GET", "/api/agents", list_agents, "The business's agents", "agents", "jwt", (Reply(200, AgentList),),
          errors=(403, 404), query=BusinessQuery),
    Route("POST", "/api/agents", create_agent, "Create an agent", "agents", "jwt",
          (Reply(201, AgentOut, description="Created"),), errors=(403, 404), body=AgentCreate),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
