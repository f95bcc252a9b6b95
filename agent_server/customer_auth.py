"""Customer portal authentication, and the wall between portal sessions and the dashboard.

A portal route takes only a customer's session token: a dashboard token there is 403
(`DASHBOARD_TOKEN_NOT_ALLOWED`), a forged, expired or ended one 401. Every other route refuses
a customer's token with 403 `CUSTOMER_NOT_ALLOWED` before its handler runs (the middleware
below), so no dashboard handler, even one that reads its body before authenticating, ever
works for a customer; `auth.current_user` says the same, should a route be reached another way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web

from agent_server import auth
from agent_server.config import AuthConfig
from agent_server.errors import ApiError, Unauthorized
from agent_server.state import POOL, SETTINGS
from customers import sessions
from customers.errors import SessionInvalid
from customers.records import Customer

PORTAL_PREFIX = "/api/customers/portal/"
_SESSION_KEY = web.RequestKey("customer_auth.session", tuple)


def bearer(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


async def portal_session(request: web.Request) -> tuple[sessions.Claims, Customer]:
    """The portal customer of this request, its session checked live in the database.

    Raises:
        Unauthorized: no token, a forged or expired one, a logged-out session or a disabled customer.
        ApiError: 403 DASHBOARD_TOKEN_NOT_ALLOWED for a dashboard user's token.
    """
    if _SESSION_KEY in request:
        claims, customer = request[_SESSION_KEY]
        return claims, customer
    token = bearer(request)
    if token is None:
        raise Unauthorized("missing bearer token")
    settings = request.app[SETTINGS]
    try:
        claims = sessions.verify(settings.customers, token)
        customer = await sessions.current(request.app[POOL], claims)
    except SessionInvalid as exc:
        if _is_dashboard_token(settings.auth, token):
            raise ApiError(403, "DASHBOARD_TOKEN_NOT_ALLOWED",
                           "the customer portal takes a customer's session, not a dashboard token") from None
        raise Unauthorized(str(exc)) from None
    request[_SESSION_KEY] = (claims, customer)
    structlog.contextvars.bind_contextvars(customer_id=str(customer.id), business_id=str(customer.business_id))
    return claims, customer


def _is_dashboard_token(config: AuthConfig, token: str) -> bool:
    try:
        auth.verify_token(config, token)
    except ApiError:
        return False
    return True


@web.middleware
async def refuse_customer_tokens(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """403 CUSTOMER_NOT_ALLOWED for a customer's token on any route outside the portal."""
    if not request.path.startswith(PORTAL_PREFIX):
        token = bearer(request)
        if token is not None:
            auth.refuse_customer_token(request.app[SETTINGS], token)
    return await handler(request)
