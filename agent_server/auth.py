"""Dashboard authentication (Supabase-style HS256 JWTs) and tenant checks.

The algorithm is pinned server-side, never taken from the token, so `alg: none` and
algorithm-confusion tokens fail. The audience must be `authenticated`, which keeps the
public anon key (also a valid JWT, with `aud` absent or `anon`) out. Tokens that claim a
lifetime longer than configured are refused, because long-lived keys are not user sessions.
A customer portal token (its own secret, audience `customer-portal`) is told it has no
business on a dashboard route (403 CUSTOMER_NOT_ALLOWED) rather than that it is malformed.
A user who is not a member of a business gets 404 for it, the same as for one that does
not exist, so ids of other tenants cannot be probed.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from typing import Any

import asyncpg
import jwt
import structlog
from aiohttp import web

from agent_server import tenants
from agent_server.config import AuthConfig, Settings
from agent_server.errors import ApiError, Forbidden, NotFound, Unauthorized, ValidationError
from agent_server.state import POOL, SETTINGS
from customers import sessions as customer_sessions

ALGORITHM = "HS256"
_USER_KEY = web.RequestKey("auth.user_id", uuid.UUID)


@dataclasses.dataclass(frozen=True)
class Membership:
    business_id: uuid.UUID
    user_id: uuid.UUID
    role: str


def mint_token(config: AuthConfig, user_id: uuid.UUID, ttl_seconds: int = 3600,
               now: float | None = None) -> str:
    """A dashboard token like Supabase issues (for the CLI, local use and tests)."""
    issued = int(time.time() if now is None else now)
    claims = {"sub": str(user_id), "aud": config.jwt_audience, "role": "authenticated",
              "iat": issued, "exp": issued + ttl_seconds}
    return jwt.encode(claims, config.jwt_secret, algorithm=ALGORITHM)


def verify_token(config: AuthConfig, token: str, now: float | None = None) -> uuid.UUID:
    """Check a bearer token and return its user id.

    Raises:
        Unauthorized: with the reason, for any token that is not a live user session.
    """
    if not config.jwt_secret:
        raise Unauthorized("dashboard authentication is not configured (SUPABASE_JWT_SECRET)")
    try:
        claims: dict[str, Any] = jwt.decode(
            token, config.jwt_secret, algorithms=[ALGORITHM], audience=config.jwt_audience,
            leeway=config.jwt_leeway_seconds, options={"require": ["exp", "sub", "aud"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except jwt.InvalidAudienceError:
        raise Unauthorized("token audience not accepted") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    current = time.time() if now is None else now
    start = claims.get("iat", current)
    if not isinstance(start, (int, float)) or claims["exp"] - start > config.jwt_max_lifetime_seconds:
        raise Unauthorized("token lifetime too long")
    try:
        return uuid.UUID(str(claims["sub"]))
    except ValueError:
        raise Unauthorized("token subject is not a user id") from None


def refuse_customer_token(settings: Settings, token: str) -> None:
    """Raises: ApiError 403 CUSTOMER_NOT_ALLOWED when `token` is a customer portal session."""
    if customer_sessions.is_customer_token(settings.customers, token):
        raise ApiError(403, "CUSTOMER_NOT_ALLOWED", "a customer portal session can't use the dashboard's routes")


async def current_user(request: web.Request) -> uuid.UUID:
    """The authenticated user's id (401 on a missing or bad token)."""
    if _USER_KEY in request:
        return request[_USER_KEY]
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("missing bearer token")
    settings = request.app[SETTINGS]
    try:
        user_id = verify_token(settings.auth, token.strip())
    except Unauthorized:
        refuse_customer_token(settings, token.strip())
        raise
    request[_USER_KEY] = user_id
    structlog.contextvars.bind_contextvars(user_id=str(user_id))
    return user_id


async def business_for(request: web.Request, business_id: Any) -> Membership:
    """The business the user acts in: the one named, or their only one when none is named.

    Raises:
        NotFound: the named business doesn't exist or the user isn't a member.
        Forbidden: the user belongs to no business.
        ValidationError: no business named and the user belongs to several.
    """
    user_id = await current_user(request)
    pool: asyncpg.Pool = request.app[POOL]
    if business_id in (None, ""):
        rows = await tenants.memberships_of(pool, user_id)
        if not rows:
            raise Forbidden("you are not a member of any business")
        if len(rows) > 1:
            raise ValidationError("businessId", "is required when you belong to several businesses")
        membership = Membership(rows[0].business_id, user_id, rows[0].role)
    else:
        try:
            wanted = business_id if isinstance(business_id, uuid.UUID) else uuid.UUID(str(business_id))
        except ValueError:
            raise NotFound("business not found") from None
        role = await tenants.role_in(pool, wanted, user_id)
        if role is None:
            raise NotFound("business not found")
        membership = Membership(wanted, user_id, role)
    structlog.contextvars.bind_contextvars(business_id=str(membership.business_id))
    return membership
