"""An agent's tools on every channel, composed per conversation turn: its forms, the handoff ticket, its actions.

The conversation code and the call pipeline see one `media.llm.toolbox.ToolBox`; this is the
shell's, filled from the domains (`automations.form_tools`, `customers.ticket_handoff`, the
agent's actions). Tools are offered sorted by name, built-in ones winning a clash, so the
prompt's prefix is byte-identical for every conversation of an agent version. Where the issue
is silent, chosen as follows:

- a form's call is checked like `POST /api/forms/submit` (the same compiled schema); a valid one
  saves one submission through the same path, which queues its email and webhooks;
- `open_ticket` is offered when the agent's `handoffTickets` is on (the default); on a call, only
  when `transfer_call` cannot dial (no transfer number or no carrier), as issue 25 asks;
- SMS and WhatsApp calls name the conversation by its stretch (`outcomes`' id for it), so a ticket
  opened by text is the conversation's one ticket, as the outcome and the portal see it.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import asyncpg
from aiohttp import web

from agent_server import agents
from agent_server.config import Settings
from agent_server.routes.actions import ACTION_SERVICES
from agent_server.state import CARRIER, POOL, SETTINGS
from automations import form_store
from automations.action_tools import load_action_tools
from automations.form_model import Form
from automations.form_schema import region_of
from automations.form_tools import form_named, submit_tool_call, tools_for
from customers import ticket_handoff
from customers.ticket_handoff import HandoffContext
from media.llm.base import Tool, ToolCall
from media.llm.toolbox import ToolOutcome, refused
from media.pipeline.hooks import CallInfo
from media.pipeline.speech_cache import SpeechCache
from media.pipeline.tool_turns import CallTools
from outcomes import records as outcome_records

Channel = Literal["widget", "sms", "whatsapp", "voice"]
SPEECH_CACHE = web.AppKey("speech_cache", SpeechCache)
"""The process's kept fillers (one cache for every call)."""
_TICKET_CHANNELS: dict[Channel, ticket_handoff.Channel] = {"widget": "widget", "sms": "sms", "whatsapp": "whatsapp",
                                                           "voice": "call"}


class ActionOutcome(Protocol):
    @property
    def content(self) -> str: ...

    @property
    def ok(self) -> bool: ...


class Actions(Protocol):
    """What the toolbox needs of the agent's actions (`automations.action_tools.ActionTools`)."""

    def definitions(self) -> list[dict[str, Any]]: ...

    def __contains__(self, name: object) -> bool: ...

    def voice_filler(self, name: str) -> str | None: ...

    async def run(self, name: str, arguments: str, *, key: str, conversation_id: uuid.UUID | None,
                  channel: str) -> ActionOutcome: ...


@dataclass(frozen=True, slots=True)
class Turn:
    """The conversation a turn's tools act for."""

    business_id: uuid.UUID
    agent_id: uuid.UUID
    conversation_id: uuid.UUID
    channel: Channel
    language: str
    phone: str | None = None
    """The person's number on SMS, WhatsApp and calls (the ticket's phone comes from the channel)."""


class AgentToolBox:
    """One turn's tools.

    Args:
        pool: where submissions and tickets are written (each its own transaction).
        turn: the conversation.
        forms: the agent's active forms.
        handoff: offer `open_ticket`.
        actions: the agent's actions (None: not available in this server).
        mail_domain: the domain of ticket emails' Message-IDs.
        clock: the time submissions and tickets are stamped with.
    """

    def __init__(self, pool: asyncpg.Pool, turn: Turn, *, forms: Sequence[Form], handoff: bool,
                 actions: Actions | None, mail_domain: str,
                 clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC)) -> None:
        self._pool = pool
        self._turn = turn
        self._forms = [f for f in forms if f.is_active]
        self._handoff = handoff
        self._actions = actions
        self._mail_domain = mail_domain
        self._clock = clock
        self._region = region_of(turn.language)
        self._definitions = self._compose()

    def _compose(self) -> list[Tool]:
        built_in: list[dict[str, Any]] = tools_for(self._forms, region=self._region)
        if self._handoff:
            built_in.append(ticket_handoff.TOOL)
        names = {t["function"]["name"] for t in built_in}
        extra = [] if self._actions is None else [t for t in self._actions.definitions()
                                                  if t["function"]["name"] not in names]
        return sorted([*built_in, *extra], key=lambda t: str(t["function"]["name"]))

    def definitions(self) -> Sequence[Tool]:
        return self._definitions

    def __bool__(self) -> bool:
        return bool(self._definitions)

    def voice_filler(self, name: str) -> str | None:
        """What a call says while this tool runs (an action's `voiceFiller`; None: the server's filler)."""
        return None if self._actions is None or name not in self._actions else self._actions.voice_filler(name)

    async def run(self, call: ToolCall, key: str) -> ToolOutcome:
        turn = self._turn
        arguments = json.dumps(call.arguments)
        form = form_named(self._forms, call.name) if call.name.startswith("form_") else None
        if form is not None:
            outcome = await submit_tool_call(self._pool, form, arguments, channel=turn.channel,
                                             conversation_id=turn.conversation_id, region=self._region,
                                             now=self._clock(), key=key)
            return ToolOutcome(outcome.content, ok=outcome.submission_id is not None)
        if call.name == ticket_handoff.NAME and self._handoff:
            context = HandoffContext(turn.business_id, turn.agent_id, turn.conversation_id,
                                     _TICKET_CHANNELS[turn.channel], turn.phone)
            result = await ticket_handoff.handoff(self._pool, context, call.arguments, now=self._clock(),
                                                  mail_domain=self._mail_domain)
            return ToolOutcome(result.message, ok=result.ticket is not None)
        if self._actions is not None and call.name in self._actions:
            done = await self._actions.run(call.name, arguments, key=key, conversation_id=turn.conversation_id,
                                           channel=turn.channel)
            return ToolOutcome(done.content, ok=done.ok)
        return refused(call, f"no tool named {call.name[:64]!r}")


async def agent_tools(pool: asyncpg.Pool, turn: Turn, *, handoff: bool, actions: Actions | None,
                      mail_domain: str) -> AgentToolBox:
    """The turn's toolbox, its forms read now (an edited form applies from the next turn)."""
    forms = await form_store.of_agent(pool, turn.agent_id, active_only=True)
    return AgentToolBox(pool, turn, forms=[f for f in forms if f.business_id == turn.business_id], handoff=handoff,
                        actions=actions, mail_domain=mail_domain)


async def sms_conversation(pool: asyncpg.Pool, business_id: uuid.UUID, message_id: uuid.UUID, *, ours: str,
                           contact: str) -> uuid.UUID:
    """The stretch an inbound text opened or continues, by `outcomes`' id for it (its first message's); the
    message's own stretch id when none is found (a thread the sweep's lookback no longer sees)."""
    now = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)
    stretches = await outcome_records.unended_stretches(pool, business_id, now=now, thread=(ours, contact))
    first = stretches[-1]["first_id"] if stretches else message_id
    return outcome_records.sms_stretch_id(first)


def mail_domain(settings: Settings) -> str:
    """The domain of tickets' Message-IDs: MAIL_FROM's, as every other email's."""
    return settings.mail.from_address.rpartition("@")[2] or "localhost"


async def toolbox_for(app: web.Application, agent: agents.Agent, conversation_id: uuid.UUID, channel: Channel, *,
                      phone: str | None = None, handoff: bool = True) -> AgentToolBox:
    """The agent's tools for one turn of a conversation, as this server composes them (`handoff` False: the
    channel keeps `open_ticket` off whatever the agent says)."""
    turn = Turn(agent.business_id, agent.id, conversation_id, channel, agent.language, phone)
    services = app.get(ACTION_SERVICES)
    actions = None if services is None else await load_action_tools(
        app[POOL], agent.business_id, agent.id, services=services,
        timeout_cap_ms=app[SETTINGS].actions.voice_timeout_ms if channel == "voice" else None)
    return await agent_tools(app[POOL], turn, handoff=handoff and agent.handoff_tickets, actions=actions,
                             mail_domain=mail_domain(app[SETTINGS]))


async def call_tools(app: web.Application, agent: agents.Agent, call: CallInfo) -> CallTools | None:
    """A call's tools beyond ending and transferring it (None: it has none). `open_ticket` is offered only
    when `transfer_call` can't dial (no transfer number, or no carrier to redirect the call)."""
    dials = bool(agent.transfer_number) and app[CARRIER] is not None
    toolbox = await toolbox_for(app, agent, call.call_id, "voice", phone=call.from_number, handoff=not dials)
    return CallTools(toolbox, str(call.call_id)) if toolbox else None
