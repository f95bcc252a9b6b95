"""Portal sessions: the customer's JWT (own secret, audience `customer-portal`) and the row it names.

The token alone is never enough: every request also finds its session row live (not revoked,
not past its end) and its customer not disabled, so logout and disabling end a session at its
next request, whatever the token's `exp` says. The algorithm is pinned, as for dashboard tokens.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any

import jwt

from customers.config import CustomersConfig
from customers.errors import SessionInvalid
from customers.links import Exchanged
from customers.records import Customer, in_live_session
from storage.executor import Executor

ALGORITHM = "HS256"
AUDIENCE = "customer-portal"
ROLE = "customer"


@dataclasses.dataclass(frozen=True)
class Claims:
    customer_id: uuid.UUID
    business_id: uuid.UUID
    session_id: uuid.UUID


def mint(config: CustomersConfig, session: Exchanged) -> str:
    claims = {"sub": str(session.customer_id), "bid": str(session.business_id), "sid": str(session.session_id),
              "aud": AUDIENCE, "role": ROLE, "iat": int(datetime.datetime.now(datetime.UTC).timestamp()),
              "exp": int(session.expires_at.timestamp())}
    return jwt.encode(claims, config.jwt_secret, algorithm=ALGORITHM)


def verify(config: CustomersConfig, token: str) -> Claims:
    """The claims of a live customer token.

    Raises:
        SessionInvalid: with the reason (forged, expired, another audience, missing claims).
    """
    if not config.jwt_secret:
        raise SessionInvalid("the customer portal is not configured (CUSTOMER_JWT_SECRET)")
    try:
        claims: dict[str, Any] = jwt.decode(token, config.jwt_secret, algorithms=[ALGORITHM], audience=AUDIENCE,
                                            options={"require": ["exp", "sub", "aud", "bid", "sid"]})
    except jwt.ExpiredSignatureError:
        raise SessionInvalid("session expired") from None
    except jwt.InvalidTokenError as exc:
        raise SessionInvalid(f"invalid token: {exc}") from None
    if claims.get("role") != ROLE:
        raise SessionInvalid("not a customer token")
    try:
        return Claims(uuid.UUID(str(claims["sub"])), uuid.UUID(str(claims["bid"])), uuid.UUID(str(claims["sid"])))
    except ValueError:
        raise SessionInvalid("token ids are not UUIDs") from None


def is_customer_token(config: CustomersConfig, token: str) -> bool:
    """Whether `token` is one this server signed for the portal (expired or not), so a dashboard route
    can tell a customer it has no business there rather than that its token is bad."""
    if not config.jwt_secret:
        return False
    try:
        jwt.decode(token, config.jwt_secret, algorithms=[ALGORITHM], audience=AUDIENCE,
                   options={"verify_exp": False})
    except jwt.InvalidTokenError:
        return False
    return True


async def current(db: Executor, claims: Claims) -> Customer:
    """The customer of a live session (one query).

    Raises:
        SessionInvalid: the session was logged out or ended, or the customer is disabled.
    """
    customer = await in_live_session(db, claims.session_id, claims.customer_id, claims.business_id)
    if customer is None:
        raise SessionInvalid("session ended")
    return customer


async def revoke(db: Executor, claims: Claims) -> None:
    await db.execute("UPDATE customer_sessions SET revoked_at = now() WHERE id = $1 AND customer_id = $2"
                     " AND revoked_at IS NULL", claims.session_id, claims.customer_id)
