"""The signed-in user and their businesses."""

from __future__ import annotations

import msgspec
from aiohttp import web

from agent_server import auth, tenants
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Instant, Uuid
from agent_server.errors import NotFound
from agent_server.state import POOL
from agent_server.validation import path_uuid


class User(msgspec.Struct):
    id: Uuid
    email: str | None


class BusinessRole(msgspec.Struct):
    id: Uuid
    name: str
    role: str


class Me(msgspec.Struct):
    """The signed-in user and every business they are a member of."""

    user: User
    businesses: list[BusinessRole]


class BusinessOut(msgspec.Struct, rename="camel"):
    """One business, with the caller's role in it."""

    id: Uuid
    name: str
    status: str
    created_at: Instant
    role: str


async def get_me(request: web.Request) -> web.Response:
    user_id = await auth.current_user(request)
    pool = request.app[POOL]
    businesses = await tenants.memberships_of(pool, user_id)
    return web.json_response({
        "user": {"id": str(user_id), "email": await tenants.get_user_email(pool, user_id)},
        "businesses": [{"id": str(b.business_id), "name": b.name, "role": b.role} for b in businesses],
    })


async def get_business(request: web.Request) -> web.Response:
    membership = await auth.business_for(request, path_uuid(request, "id"))
    business = await tenants.get_business(request.app[POOL], membership.business_id)
    if business is None:
        raise NotFound("business not found")
    return web.json_response({
        "id": str(business.id), "name": business.name, "status": business.status,
        "createdAt": business.created_at.isoformat(), "role": membership.role,
    })


ROUTES = (
    Route("GET", "/api/me", get_me, "The signed-in user and their businesses", "account", "jwt", (Reply(200, Me),)),
    Route("GET", "/api/businesses/{id}", get_business, "One business the user belongs to", "account", "jwt",
          (Reply(200, BusinessOut),), errors=(404,)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
