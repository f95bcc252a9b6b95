"""The customer portal's reads: agents, conversations (and the dashboard's per-channel aliases), messages, leads,
figures per agent.

Each read is scoped by `customers.portal` to the session's customer and its current
assignments; an agent, conversation or lead outside them is 404, the same as a missing one.
Pages are newest first with an opaque cursor; the range defaults to the last 30 days.
"""

from __future__ import annotations

import base64
import datetime
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import web

from agent_server.api.decoding import read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import as_optional_uuid
from agent_server.customer_auth import portal_session
from agent_server.errors import NotFound, ValidationError
from agent_server.routes.customer_shapes import (
    PortalAliasQuery,
    PortalConversationPage,
    PortalConversationsQuery,
    PortalLeadPage,
    PortalLeadsQuery,
    PortalMessageList,
    PortalAgent,
    PortalAgentFigures,
    PortalAgents,
    PortalAnalytics,
    PortalAnalyticsQuery,
    PortalChannel,
    PortalConversation,
    PortalLead,
    PortalMessage,
)
from agent_server.state import POOL
from agent_server.validation import get_instant, path_uuid
from customers import portal, portal_analytics

PAGE = 50
DEFAULT_DAYS = 30
_NOT_FOUND = "conversation not found"


async def _scope(request: web.Request, agent_id: str | None) -> portal.Scope:
    """The session's scope; an agent named that isn't assigned is 404 (as a missing one)."""
    _, customer = await portal_session(request)
    wanted = as_optional_uuid(agent_id, "agentId")
    if wanted is not None and wanted not in customer.agent_ids:
        raise NotFound("agent not found")
    return portal.Scope(customer.id, customer.business_id, wanted)


def _range(start_raw: str | None, end_raw: str | None) -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    end: datetime.datetime = get_instant({"to": end_raw}, "to", default=now + datetime.timedelta(seconds=1))
    start: datetime.datetime = get_instant({"from": start_raw}, "from",
                                           default=end - datetime.timedelta(days=DEFAULT_DAYS))
    if start >= end:
        raise ValidationError("from", "must be before to")
    return start, end


def _cursor(at: datetime.datetime, row_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(f"{at.isoformat()}|{row_id}".encode()).decode()


def _after(raw: str | None) -> tuple[datetime.datetime, uuid.UUID] | None:
    if raw is None:
        return None
    try:
        at, _, row_id = base64.urlsafe_b64decode(raw.encode()).decode().partition("|")
        parsed = datetime.datetime.fromisoformat(at)
        if parsed.tzinfo is None:
            raise ValueError("naive")
        return parsed, uuid.UUID(row_id)
    except ValueError:
        raise ValidationError("cursor", "is not a cursor this server gave") from None


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


async def portal_agents(request: web.Request) -> web.Response:
    found = await portal.agents(request.app[POOL], await _scope(request, None))
    return struct_response(PortalAgents(agents=[PortalAgent(id=str(a.id), name=a.name) for a in found]))


async def _conversation_page(request: web.Request, query: PortalAliasQuery | PortalConversationsQuery,
                             channel: PortalChannel | None) -> web.Response:
    scope = await _scope(request, query.agent_id)
    start, end = _range(query.from_, query.to)
    rows = await portal.conversations(request.app[POOL], scope, channel=channel, start=start, end=end,
                                      after=_after(query.cursor), limit=PAGE + 1)
    more, rows = len(rows) > PAGE, rows[:PAGE]
    views = [PortalConversation(id=str(c.id), channel=c.channel, agent_id=str(c.agent_id),  # type: ignore[arg-type]
                                started_at=c.started_at.isoformat(), ended_at=_iso(c.ended_at), contact=c.contact,
                                summary=c.summary, outcome=c.outcome, sentiment=c.sentiment, lead=c.lead)
             for c in rows]
    return struct_response(PortalConversationPage(
        conversations=views, next_cursor=_cursor(rows[-1].started_at, rows[-1].id) if more else None))


async def portal_conversations(request: web.Request) -> web.Response:
    query = read_query(request, PortalConversationsQuery)
    return await _conversation_page(request, query, query.channel)


def _alias(channel: PortalChannel, name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return await _conversation_page(request, read_query(request, PortalAliasQuery), channel)
    handler.__name__ = name
    return handler


async def portal_conversation_messages(request: web.Request) -> web.Response:
    conversation_id = path_uuid(request, "conversationId")
    found = await portal.messages(request.app[POOL], await _scope(request, None), conversation_id)
    if found is None:
        raise NotFound(_NOT_FOUND)
    return struct_response(PortalMessageList(conversation_id=str(conversation_id), messages=[
        PortalMessage(role=m.role, text=m.text, at=m.at.isoformat()) for m in found]))


async def portal_leads(request: web.Request) -> web.Response:
    query = read_query(request, PortalLeadsQuery)
    scope = await _scope(request, query.agent_id)
    start, end = _range(query.from_, query.to)
    rows = await portal.leads(request.app[POOL], scope, start=start, end=end, after=_after(query.cursor),
                              limit=PAGE + 1)
    more, rows = len(rows) > PAGE, rows[:PAGE]
    views = [PortalLead(id=str(r.id), conversation_id=str(r.conversation_id), agent_id=str(r.agent_id),
                        channel=r.channel, name=r.name, phone=r.phone, email=r.email, company=r.company,
                        intent=r.intent, confidence=r.confidence, created_at=r.created_at.isoformat()) for r in rows]
    return struct_response(PortalLeadPage(leads=views,
                                    next_cursor=_cursor(rows[-1].created_at, rows[-1].id) if more else None))


async def portal_analytics_figures(request: web.Request) -> web.Response:
    query = read_query(request, PortalAnalyticsQuery)
    scope = await _scope(request, query.agent_id)
    start, end = _range(query.from_, query.to)
    found = await portal_analytics.figures(request.app[POOL], scope, start, end)
    return struct_response(PortalAnalytics(from_=start.isoformat(), to=end.isoformat(), agents=[
        PortalAgentFigures(agent_id=str(f.agent_id), name=f.name, conversations=f.conversations,
                           call_minutes=round(f.call_seconds / 60, 1), leads=f.leads, outcomes=f.outcomes)
        for f in found]))


_BASE = "/api/customers/portal"
_TAG = "customer portal"

ROUTES: tuple[Route, ...] = (
    Route("GET", f"{_BASE}/agents", portal_agents, "The agents this customer sees", _TAG, "customer",
          (Reply(200, PortalAgents),), errors=(403,)),
    Route("GET", f"{_BASE}/conversations", portal_conversations,
          f"The assigned agents' conversations with summary, outcome and lead, newest first ({PAGE} a page)",
          _TAG, "customer", (Reply(200, PortalConversationPage),), errors=(403, 404), query=PortalConversationsQuery),
    Route("GET", f"{_BASE}/conversations/{{conversationId}}/messages", portal_conversation_messages,
          "One conversation's messages (a call's transcript), oldest first", _TAG, "customer",
          (Reply(200, PortalMessageList),), errors=(403, 404)),
    Route("GET", f"{_BASE}/chatbot-conversations", _alias("widget", "portal_chatbot_conversations"),
          "The widget conversations (conversations?channel=widget)", _TAG, "customer",
          (Reply(200, PortalConversationPage),), errors=(403, 404), query=PortalAliasQuery),
    Route("GET", f"{_BASE}/voice-call-logs", _alias("voice", "portal_voice_call_logs"),
          "The calls (conversations?channel=voice)", _TAG, "customer",
          (Reply(200, PortalConversationPage),), errors=(403, 404), query=PortalAliasQuery),
    Route("GET", f"{_BASE}/whatsapp-conversation-logs", _alias("whatsapp", "portal_whatsapp_conversation_logs"),
          "The WhatsApp conversations (conversations?channel=whatsapp)", _TAG, "customer",
          (Reply(200, PortalConversationPage),), errors=(403, 404), query=PortalAliasQuery),
    Route("GET", f"{_BASE}/analytics", portal_analytics_figures,
          "Figures per assigned agent over a range: conversations by channel, call minutes, leads, outcomes",
          _TAG, "customer", (Reply(200, PortalAnalytics),), errors=(403, 404), query=PortalAnalyticsQuery),
    Route("GET", f"{_BASE}/leads", portal_leads, f"The assigned agents' leads, newest first ({PAGE} a page)",
          _TAG, "customer", (Reply(200, PortalLeadPage),), errors=(403, 404), query=PortalLeadsQuery),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
