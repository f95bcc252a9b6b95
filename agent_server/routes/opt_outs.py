"""Opt-outs for the dashboard: add a phone to the business's suppression and list them; none can be removed here.

Only the person can lift an opt-out (texting START), so there is no DELETE: a dashboard user
adding consent back by hand is exactly what the consent rules forbid.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from agent_server import auth
from agent_server.api.decoding import read_body, read_query
from agent_server.api.responses import struct_response
from agent_server.api.route import Reply, Route, register
from agent_server.routes.contacts import phone_of
from agent_server.routes.contacts_shapes import MessagingBusinessQuery, OptOutCreate, OptOutList, OptOutOut
from agent_server.state import POOL
from messaging import consent

LIMIT = 500


async def add_opt_out(request: web.Request) -> web.Response:
    await auth.current_user(request)
    body = await read_body(request, OptOutCreate)
    membership = await auth.business_for(request, body.business_id)
    phone = phone_of(body.phone, body.default_country)
    await consent.opt_out(request.app[POOL], membership.business_id, phone, source=consent.Source.DASHBOARD,
                          detail=body.reason)
    return await _listing(request, membership.business_id, status=201)


async def list_opt_outs(request: web.Request) -> web.Response:
    membership = await auth.business_for(request, read_query(request, MessagingBusinessQuery).business_id)
    return await _listing(request, membership.business_id)


async def _listing(request: web.Request, business_id: uuid.UUID, status: int = 200) -> web.Response:
    found = await consent.suppressions(request.app[POOL], business_id, limit=LIMIT)
    return struct_response(OptOutList(opt_outs=[
        OptOutOut(phone=s.phone, source=s.source, detail=s.detail, suppressed_at=s.suppressed_at.isoformat())
        for s in found]), status=status)


ROUTES = (
    Route("POST", "/api/opt-outs", add_opt_out, "Stop texting a phone from all the business's numbers", "contacts",
          "jwt", (Reply(201, OptOutList, description="Added"),), errors=(403, 404, 422), body=OptOutCreate),
    Route("GET", "/api/opt-outs", list_opt_outs, f"The business's opted-out phones, newest first (at most {LIMIT})",
          "contacts", "jwt", (Reply(200, OptOutList),), errors=(403, 404), query=MessagingBusinessQuery),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
