"""Support tickets for the business's staff: open one (the dashboard's `POST /api/customers/tickets`), list,
read with its thread, change status or priority, reply.

Another business's ticket, agent or customer answers exactly as a missing one (404). A staff
reply is mailed to the requester, a new ticket to the business's other members (customers/ticket_mail.py).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable

from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Link, Reply, Route, register
from agent_server.api.shapes import as_optional_uuid
from agent_server.config import Settings
from agent_server.customer_jobs import reply_addresses
from agent_server.errors import ValidationError, register_error
from agent_server.routes.messaging_access import owned
from agent_server.routes.ticket_shapes import (
    DashboardTicketCreate,
    TicketMessageCreate,
    TicketMessageOut,
    TicketMessagePosted,
    TicketDetail,
    TicketOut,
    TicketPage,
    TicketPatch,
    TicketQuery,
)
from agent_server.state import POOL, SETTINGS
from customers import tickets
from customers.ticket_errors import NotInBusiness, TicketClosed, TicketNotFound
from messaging import cursor

PAGE = 50


def ticket_out(t: tickets.Ticket) -> TicketOut:
    return TicketOut(
        id=str(t.id), number=t.reference, business_id=str(t.business_id),
        agent_id=str(t.agent_id) if t.agent_id else None, customer_id=str(t.customer_id) if t.customer_id else None,
        conversation_id=str(t.conversation_id) if t.conversation_id else None, subject=t.subject,
        description=t.description, status=t.status, priority=t.priority, source=t.source,
        requester_name=t.requester_name, requester_email=t.requester_email, requester_phone=t.requester_phone,
        created_at=t.created_at.isoformat(), updated_at=t.updated_at.isoformat(),
        resolved_at=t.resolved_at.isoformat() if t.resolved_at else None,
        closed_at=t.closed_at.isoformat() if t.closed_at else None)


def message_out(m: tickets.TicketMessage) -> TicketMessageOut:
    return TicketMessageOut(id=str(m.id), sender_type=m.sender_type, content=m.content, created_at=m.created_at.isoformat())


def mail_domain(settings: Settings) -> str:
    """The domain of tickets' Message-IDs: MAIL_FROM's, as every other email's."""
    return settings.mail.from_address.rpartition("@")[2] or "localhost"


def checked(field: str, check: Callable[[str], str], value: str) -> str:
    """`check(value)`, its ValueError a 422 naming `field`."""
    try:
        return check(value)
    except ValueError as exc:
        raise ValidationError(field, str(exc)) from None


def page_after(raw: str | None) -> tuple[datetime.datetime, uuid.UUID] | None:
    try:
        return None if raw is None else cursor.decode(raw)
    except cursor.BadCursor:
        raise ValidationError("cursor", "is not a cursor from this server") from None


def next_cursor(found: list[tickets.Ticket], limit: int) -> str | None:
    return cursor.encode(found[limit - 1].created_at, found[limit - 1].id) if len(found) > limit else None


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def create_ticket(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, DashboardTicketCreate)
    membership = await auth.business_for(request, body.business_id)
    new = tickets.NewTicket(
        checked("subject", tickets.check_subject, body.subject),
        checked("description", lambda v: tickets.check_text(v, required=False), body.description), "dashboard",
        priority=body.priority, agent_id=as_optional_uuid(body.chatbot_id, "chatbot_id"),
        customer_id=as_optional_uuid(body.customer_id, "customer_id"))
    ticket, _ = await tickets.open_ticket(request.app[POOL], membership.business_id, new, now=_now(),
                                          mail_domain=mail_domain(request.app[SETTINGS]),
                                          author_user_id=membership.user_id)
    return struct_response(ticket_out(ticket), status=201)


async def list_tickets(request: web.Request) -> web.Response:
    query = read_query(request, TicketQuery)
    membership = await auth.business_for(request, query.business_id)
    pool = request.app[POOL]
    agent_id = as_optional_uuid(query.agent_id, "agentId")
    if agent_id is not None:
        await tickets.check_agent(pool, membership.business_id, agent_id)
    found = await tickets.list_tickets(
        pool, membership.business_id, tickets.Filters(status=query.status, priority=query.priority, agent_id=agent_id),
        after=page_after(query.cursor), limit=PAGE + 1)
    return struct_response(TicketPage(tickets=[ticket_out(t) for t in found[:PAGE]],
                                      next_cursor=next_cursor(found, PAGE)))


async def get_ticket(request: web.Request) -> web.Response:
    business_id, ticket_id = await owned(request, "id", tickets.owner, "ticket")
    pool = request.app[POOL]
    ticket = await tickets.get(pool, business_id, ticket_id)
    return struct_response(TicketDetail(ticket=ticket_out(ticket),
                                        messages=[message_out(m) for m in await tickets.thread(pool, ticket_id)]))


async def patch_ticket(request: web.Request) -> web.Response:
    business_id, ticket_id = await owned(request, "id", tickets.owner, "ticket")
    body = await read_body(request, TicketPatch)
    if body.status is None and body.priority is None:
        raise ValidationError("status", "give a status or a priority to change")
    ticket = await tickets.update(request.app[POOL], business_id, ticket_id, now=_now(), status=body.status,
                                  priority=body.priority)
    return struct_response(ticket_out(ticket))


async def post_ticket_message(request: web.Request) -> web.Response:
    business_id, ticket_id = await owned(request, "id", tickets.owner, "ticket")
    body = await read_body(request, TicketMessageCreate)
    content = checked("content", tickets.check_text, body.content)
    ticket, message = await tickets.add_message(
        request.app[POOL], business_id, ticket_id, "agent", content, now=_now(),
        mail_domain=mail_domain(request.app[SETTINGS]), author_user_id=await auth.current_user(request),
        inbound=reply_addresses(request.app[SETTINGS]))
    return struct_response(TicketMessagePosted(message=message_out(message), ticket=ticket_out(ticket)), status=201)


_LINKS = {"GetTicket": Link("get_ticket", {"id": "$response.body#/id"}),
          "EditTicket": Link("patch_ticket", {"id": "$response.body#/id"}),
          "ReplyToTicket": Link("post_ticket_message", {"id": "$response.body#/id"})}
ROUTES = (
    Route("POST", "/api/customers/tickets", create_ticket,
          "Open a support ticket from the dashboard (snake_case body), for a customer when named", "tickets", "jwt",
          (Reply(201, TicketOut, description="Created", links=_LINKS),), errors=(403, 404, 422),
          body=DashboardTicketCreate),
    Route("GET", "/api/tickets", list_tickets, f"The business's tickets, newest first ({PAGE} a page), filtered",
          "tickets", "jwt", (Reply(200, TicketPage),), errors=(403, 404, 422), query=TicketQuery),
    Route("GET", "/api/tickets/{id}", get_ticket, "A ticket with its thread", "tickets", "jwt",
          (Reply(200, TicketDetail),), errors=(404,)),
    Route("PATCH", "/api/tickets/{id}", patch_ticket, "Change a ticket's status or priority (closed is final)",
          "tickets", "jwt", (Reply(200, TicketOut),), errors=(404, 409, 422), body=TicketPatch),
    Route("POST", "/api/tickets/{id}/messages", post_ticket_message,
          "Reply to a ticket as staff (mailed to the requester; a closed ticket refuses it)", "tickets", "jwt",
          (Reply(201, TicketMessagePosted, description="Created"),), errors=(404, 409, 422), body=TicketMessageCreate),
)


def setup(app: web.Application) -> None:
    register_error(TicketNotFound, 404, "NOT_FOUND")
    register_error(NotInBusiness, 404, "NOT_FOUND")
    register_error(TicketClosed, 409, "TICKET_CLOSED")
    register(app, ROUTES)
