"""A business's customers, managed from the dashboard: invite, list, read, edit, disable, assign agents, send a link.

A customer of another business answers exactly like a missing one (404, same message), as
does another business's agent named for assignment. Disabling keeps the customer (and its
tickets) but ends its sessions and unused links at once. Sign-in links are only ever mailed:
no answer carries a token.
"""

from __future__ import annotations

import datetime
import uuid

from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import as_uuid
from agent_server.errors import ApiError, NotFound, ValidationError, register_error
from agent_server.routes.customer_shapes import (
    CustomerListQuery,
    CustomerChatbotsPut,
    CustomerCreate,
    CustomerCreated,
    CustomerList,
    CustomerOut,
    CustomerPatch,
    CustomerLinkQueued,
    CustomerLoginLinkBody,
)
from agent_server.state import POOL, SETTINGS
from agent_server.validation import path_uuid
from customers import links, records
from customers.errors import AgentNotFound, CustomerExists, CustomerNotFound
from mail.message import check_address
from storage.transactions import transaction

_MISSING = "customer not found"


def customer_out(customer: records.Customer) -> CustomerOut:
    return CustomerOut(
        id=str(customer.id), email=customer.email, full_name=customer.full_name,
        company_name=customer.company_name, status=customer.status,
        weekly_summary_enabled=customer.weekly_summary_enabled,
        last_login=customer.last_login.isoformat() if customer.last_login else None,
        created_at=customer.created_at.isoformat(), chatbot_ids=[str(a) for a in customer.agent_ids])


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _email(value: str) -> str:
    try:
        return check_address(value).lower()
    except ValueError as exc:
        raise ValidationError("email", str(exc)) from None


def _agent_ids(values: list[str], name: str) -> list[uuid.UUID]:
    return [as_uuid(v, name) for v in values]


async def own_customer(request: web.Request, customer_id: uuid.UUID) -> records.Customer:
    """The customer, if the caller is a member of its business; 404 otherwise, the same for every reason."""
    await auth.current_user(request)
    pool = request.app[POOL]
    business_id = await pool.fetchval("SELECT business_id FROM customers WHERE id = $1", customer_id)
    if business_id is None:
        raise NotFound(_MISSING)
    try:
        await auth.business_for(request, business_id)
    except NotFound:
        raise NotFound(_MISSING) from None
    return await records.get(pool, business_id, customer_id)


async def create_customer(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, CustomerCreate)
    membership = await auth.business_for(request, body.business_id)
    email = _email(body.email)
    agent_ids = _agent_ids(([body.chatbot_id] if body.chatbot_id else []) + body.chatbot_ids, "chatbot_ids")
    now = _now()
    async with transaction(request.app[POOL]) as conn:
        customer = await records.create(conn, membership.business_id, email=email, full_name=body.full_name,
                                        company_name=body.company_name, agent_ids=agent_ids, now=now)
        await links.issue(conn, customer, "invite", request.app[SETTINGS].customers, now=now)
    return struct_response(CustomerCreated(customer_id=str(customer.id), email=customer.email, status="invited"),
                           status=201)


async def list_customers(request: web.Request) -> web.Response:
    membership = await auth.business_for(request, read_query(request, CustomerListQuery).business_id)
    found = await records.list_customers(request.app[POOL], membership.business_id)
    return struct_response(CustomerList(customers=[customer_out(c) for c in found]))


async def get_customer(request: web.Request) -> web.Response:
    return struct_response(customer_out(await own_customer(request, path_uuid(request, "customerId"))))


async def update_customer(request: web.Request) -> web.Response:
    customer = await own_customer(request, path_uuid(request, "customerId"))
    body = await read_body(request, CustomerPatch)
    full_name = body.full_name if isinstance(body.full_name, str) else None
    company = body.company_name if isinstance(body.company_name, str) else None
    weekly = body.weekly_summary_enabled if isinstance(body.weekly_summary_enabled, bool) else None
    updated = await records.update(request.app[POOL], customer.business_id, customer.id, full_name=full_name,
                                   company_name=company, clear_company=body.company_name is None,
                                   weekly_summary_enabled=weekly, now=_now())
    return struct_response(customer_out(updated))


async def disable_customer(request: web.Request) -> web.Response:
    customer = await own_customer(request, path_uuid(request, "customerId"))
    disabled = await records.disable(request.app[POOL], customer.business_id, customer.id, now=_now())
    return struct_response(customer_out(disabled))


async def set_customer_chatbots(request: web.Request) -> web.Response:
    customer = await own_customer(request, path_uuid(request, "customerId"))
    body = await read_body(request, CustomerChatbotsPut)
    updated = await records.set_agents(request.app[POOL], customer.business_id, customer.id,
                                       _agent_ids(body.chatbot_ids, "chatbot_ids"), now=_now())
    return struct_response(customer_out(updated))


async def send_customer_login_link(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, CustomerLoginLinkBody)
    customer_id = as_uuid(body.customer_id, "customer_id")
    customer = await own_customer(request, customer_id)
    if customer.status == "disabled":
        raise ApiError(409, "CUSTOMER_DISABLED", "the customer is disabled")
    await links.issue(request.app[POOL], customer, "login", request.app[SETTINGS].customers, now=_now())
    return struct_response(CustomerLinkQueued(customer_id=str(customer.id), status="queued"), status=202)


ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/customers", create_customer,
          "Invite a customer (mails a single-use sign-in link; a password is ignored)", "customers", "jwt",
          (Reply(201, CustomerCreated),), errors=(403, 404, 409), body=CustomerCreate),
    Route("GET", "/api/customers", list_customers, "The business's customers, newest first", "customers", "jwt",
          (Reply(200, CustomerList),), errors=(403, 404), query=CustomerListQuery),
    Route("POST", "/api/customers/login-link", send_customer_login_link,
          "Mail a customer a fresh single-use sign-in link", "customers", "jwt",
          (Reply(202, CustomerLinkQueued),), errors=(403, 404, 409), body=CustomerLoginLinkBody),
    Route("GET", "/api/customers/{customerId}", get_customer, "One customer", "customers", "jwt",
          (Reply(200, CustomerOut),), errors=(403, 404)),
    Route("PATCH", "/api/customers/{customerId}", update_customer,
          "Edit a customer's name, company or weekly summary", "customers", "jwt",
          (Reply(200, CustomerOut),), errors=(403, 404), body=CustomerPatch),
    Route("DELETE", "/api/customers/{customerId}", disable_customer,
          "Disable a customer: its sessions and links end at once, its data stays", "customers", "jwt",
          (Reply(200, CustomerOut),), errors=(403, 404)),
    Route("PUT", "/api/customers/{customerId}/chatbots", set_customer_chatbots,
          "Replace the agents a customer sees", "customers", "jwt",
          (Reply(200, CustomerOut),), errors=(403, 404), body=CustomerChatbotsPut),
)


def setup(app: web.Application) -> None:
    register_error(CustomerExists, 409, "CUSTOMER_EXISTS")
    register_error(CustomerNotFound, 404, "NOT_FOUND")
    register_error(AgentNotFound, 404, "NOT_FOUND")
    register(app, ROUTES)
