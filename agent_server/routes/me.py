"""The signed-in user and their businesses."""

from __future__ import annotations

from aiohttp import web

from agent_server import auth, tenants
from agent_server.errors import NotFound
from agent_server.state import POOL
from agent_server.validation import path_uuid


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


def setup(app: web.Application) -> None:
    app.router.add_get("/api/me", get_me)
    app.router.add_get("/api/businesses/{id}", get_business)
