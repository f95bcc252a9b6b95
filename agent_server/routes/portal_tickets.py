"""The customer portal's tickets: list, open, read with the thread, reply (a customer's session only).

Scoped by `customers.ticket_portal` to the session's customer and its current assignments:
a ticket or agent outside them is 404, as a missing one. A reply reopens a resolved ticket and
is mailed to the business; a closed ticket refuses it (409).
"""

from __future__ import annotations

import datetime

from aiohttp import web

from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import as_optional_uuid
from agent_server.customer_auth import portal_session
from agent_server.routes.ticket_shapes import (
    PortalTicketCreate,
    PortalTicketQuery,
    TicketDetail,
    TicketMessageCreate,
    TicketMessagePosted,
    TicketOut,
    TicketPage,
)
from agent_server.routes.tickets import (
    PAGE,
    checked,
    mail_domain,
    message_out,
    next_cursor,
    page_after,
    ticket_out,
)
from agent_server.state import POOL, SETTINGS
from agent_server.validation import path_uuid
from customers import ticket_portal, tickets


async def _customer(request: web.Request) -> ticket_portal.PortalCustomer:
    _, customer = await portal_session(request)
    return ticket_portal.PortalCustomer(customer.id, customer.business_id, customer.agent_ids)


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def portal_list_tickets(request: web.Request) -> web.Response:
    customer = await _customer(request)
    query = read_query(request, PortalTicketQuery)
    found = await ticket_portal.list_tickets(request.app[POOL], customer, status=query.status,
                                             after=page_after(query.cursor), limit=PAGE + 1)
    return struct_response(TicketPage(tickets=[ticket_out(t) for t in found[:PAGE]],
                                      next_cursor=next_cursor(found, PAGE)))


async def portal_open_ticket(request: web.Request) -> web.Response:
    customer = await _customer(request)
    body = await read_body(request, PortalTicketCreate)
    ticket = await ticket_portal.open_ticket(
        request.app[POOL], customer, subject=checked("subject", tickets.check_subject, body.subject),
        description=checked("description", lambda v: tickets.check_text(v, required=False), body.description),
        priority=body.priority, agent_id=as_optional_uuid(body.agent_id, "agentId"), now=_now(),
        mail_domain=mail_domain(request.app[SETTINGS]))
    return struct_response(ticket_out(ticket), status=201)


async def portal_get_ticket(request: web.Request) -> web.Response:
    customer = await _customer(request)
    pool = request.app[POOL]
    ticket = await ticket_portal.get(pool, customer, path_uuid(request, "id"))
    return struct_response(TicketDetail(ticket=ticket_out(ticket),
                                        messages=[message_out(m) for m in await tickets.thread(pool, ticket.id)]))


async def portal_reply_to_ticket(request: web.Request) -> web.Response:
    customer = await _customer(request)
    ticket_id = path_uuid(request, "id")
    body = await read_body(request, TicketMessageCreate)
    ticket, message = await ticket_portal.reply(
        request.app[POOL], customer, ticket_id, checked("content", tickets.check_text, body.content), now=_now(),
        mail_domain=mail_domain(request.app[SETTINGS]))
    return struct_response(TicketMessagePosted(message=message_out(message), ticket=ticket_out(ticket)), status=201)


_BASE = "/api/customers/portal/tickets"
ROUTES = (
    Route("GET", _BASE, portal_list_tickets, "The signed-in customer's tickets, newest first", "customer portal",
          "customer", (Reply(200, TicketPage),), errors=(403, 422), query=PortalTicketQuery),
    Route("POST", _BASE, portal_open_ticket, "Open a ticket (mailed to the business), about an assigned agent",
          "customer portal", "customer", (Reply(201, TicketOut, description="Created"),), errors=(403, 404, 422),
          body=PortalTicketCreate),
    Route("GET", f"{_BASE}/{{id}}", portal_get_ticket, "One of the customer's tickets with its thread",
          "customer portal", "customer", (Reply(200, TicketDetail),), errors=(403, 404)),
    Route("POST", f"{_BASE}/{{id}}/messages", portal_reply_to_ticket,
          "Reply on a ticket (reopens a resolved one; mailed to the business; a closed one 409)", "customer portal",
          "customer", (Reply(201, TicketMessagePosted, description="Created"),), errors=(403, 404, 409, 422),
          body=TicketMessageCreate),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
