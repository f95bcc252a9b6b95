"""The customer portal's sign-in: exchanging a link for a session, asking for a link, logging out, who am I.

Asking for a link (`POST /api/customers/portal/login-link`, and the dashboard's
`POST /api/customers/send-login-link?email=`) always answers 202 with one fixed body and only
queues a job (`customers.link_requests`), so a known, unknown, disabled or throttled address
looks and costs the same. Per client IP (the shared limiter): `link_requests_per_ip_per_hour`
requests and `exchanges_per_ip_per_minute` exchanges, then 429, counted once the request is well formed
(a malformed one is refused before it costs anything).
"""

from __future__ import annotations

import datetime

from aiohttp import web

from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.customer_auth import portal_session
from agent_server.errors import ApiError, ValidationError, register_error
from agent_server.message_limits import LIMITS_POOL
from agent_server.metrics import METRICS
from agent_server.routes.customer_shapes import (
    PortalEmailQuery,
    PortalLinkRequest,
    PortalLinkRequested,
    PortalCustomer,
    PortalSession,
    PortalTokenBody,
)
from agent_server.state import POOL, SETTINGS
from agent_server.widget_access import client_ip
from conversations import rate_limits
from conversations.gcra import Limit
from customers import link_requests, links, sessions
from customers.errors import LinkExpired, LinkUnknown, SessionInvalid
from customers.records import Customer
from mail.message import check_address

ACCEPTED = PortalLinkRequested(status="accepted",
                         message="If this address may sign in, a link is on its way. It works once, for 15 minutes.")


async def _limit(request: web.Request, scope: rate_limits.Scope, limit: Limit, message: str) -> None:
    settings = request.app[SETTINGS]
    ip = client_ip(request.remote, request.headers.get("X-Forwarded-For", ""), settings.messaging.forwarded_for_hops)
    if not await rate_limits.allow(request.app[LIMITS_POOL], scope, ip, limit):
        request.app[METRICS].rate_limited.labels(scope.value).inc()
        raise ApiError(429, "RATE_LIMITED", message)


async def _limit_requests(request: web.Request) -> None:
    per_hour = request.app[SETTINGS].customers.link_requests_per_ip_per_hour
    await _limit(request, rate_limits.Scope.CUSTOMER_LINK_IP, Limit(per_minute=per_hour / 60, burst=per_hour),
                 f"at most {per_hour} sign-in link requests an hour")


async def portal_customer(request: web.Request, customer: Customer) -> PortalCustomer:
    name = await request.app[POOL].fetchval("SELECT name FROM businesses WHERE id = $1", customer.business_id)
    return PortalCustomer(id=str(customer.id), email=customer.email, full_name=customer.full_name,
                          company_name=customer.company_name, business_id=str(customer.business_id),
                          business_name=name, weekly_summary_enabled=customer.weekly_summary_enabled)


async def create_portal_session(request: web.Request) -> web.Response:
    config = request.app[SETTINGS].customers
    if not config.jwt_secret:
        raise ApiError(503, "CUSTOMER_PORTAL_DISABLED", "the customer portal is not configured (CUSTOMER_JWT_SECRET)")
    body = await read_body(request, PortalTokenBody)
    per_minute = config.exchanges_per_ip_per_minute
    await _limit(request, rate_limits.Scope.CUSTOMER_EXCHANGE_IP, Limit(per_minute=per_minute, burst=per_minute),
                 f"at most {per_minute} sign-in attempts a minute")
    exchanged = await links.exchange(request.app[POOL], body.token, config)
    token = sessions.mint(config, exchanged)
    return struct_response(PortalSession(access_token=token, expires_at=exchanged.expires_at.isoformat(),
                                         customer=await portal_customer(request, exchanged.customer)))


async def request_portal_login_link(request: web.Request) -> web.Response:
    body = await read_body(request, PortalLinkRequest)
    now = datetime.datetime.now(datetime.UTC)
    if body.token is not None:
        await _limit_requests(request)
        await link_requests.request_renewal(request.app[POOL], body.token, now=now)
    elif body.email is not None:
        email = _address(body.email)
        await _limit_requests(request)
        await link_requests.request_by_email(request.app[POOL], email, now=now)
    else:
        raise ValidationError("email", "email or token is required")
    return struct_response(ACCEPTED, status=202)


async def send_login_link(request: web.Request) -> web.Response:
    email = _address(read_query(request, PortalEmailQuery).email)
    await _limit_requests(request)
    await link_requests.request_by_email(request.app[POOL], email, now=datetime.datetime.now(datetime.UTC))
    return struct_response(ACCEPTED, status=202)


def _address(value: str) -> str:
    try:
        return check_address(value)
    except ValueError as exc:
        raise ValidationError("email", str(exc)) from None


async def portal_logout(request: web.Request) -> web.Response:
    claims, _ = await portal_session(request)
    await sessions.revoke(request.app[POOL], claims)
    return web.Response(status=204)


async def portal_me(request: web.Request) -> web.Response:
    _, customer = await portal_session(request)
    return struct_response(await portal_customer(request, customer))


ROUTES: tuple[Route, ...] = (
    Route("POST", "/api/customers/portal/session", create_portal_session,
          "Exchange a sign-in link's token for a portal session (once)", "customer portal", "public",
          (Reply(200, PortalSession),), errors=(401, 410, 429, 503), body=PortalTokenBody),
    Route("POST", "/api/customers/portal/login-link", request_portal_login_link,
          "Ask for a sign-in link by address, or a fresh one for an expired link (always the same 202)",
          "customer portal", "public", (Reply(202, PortalLinkRequested),), errors=(429,), body=PortalLinkRequest),
    Route("POST", "/api/customers/send-login-link", send_login_link,
          "Ask for a sign-in link by address (always the same 202)", "customer portal", "public",
          (Reply(202, PortalLinkRequested),), errors=(429,), query=PortalEmailQuery),
    Route("POST", "/api/customers/portal/logout", portal_logout, "End this portal session", "customer portal",
          "customer", (Reply(204, None, description="Logged out"),), errors=(403,)),
    Route("GET", "/api/customers/portal/me", portal_me, "The signed-in customer", "customer portal", "customer",
          (Reply(200, PortalCustomer),), errors=(403,)),
)


def setup(app: web.Application) -> None:
    register_error(LinkExpired, 410, "LINK_EXPIRED")
    register_error(LinkUnknown, 401, "LINK_INVALID")
    register_error(SessionInvalid, 401, "UNAUTHORIZED")
    register(app, ROUTES)
