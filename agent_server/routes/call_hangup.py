"""POST /api/calls/{id}/hangup: end a live call from the dashboard, whichever process holds it."""

from __future__ import annotations

import msgspec
import structlog
from aiohttp import web

from agent_server import auth, call_control
from agent_server.api.route import Reply, Route, register
from agent_server.api.shapes import Uuid
from agent_server.errors import NotFound
from agent_server.state import CARRIER, POOL
from agent_server.validation import path_uuid
from media import call_records
from phone_numbers.carrier import CarrierError

log = structlog.get_logger(__name__)

FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


class HangupResult(msgspec.Struct):
    """`ended` when the call was already over, `hangup_requested` when it is being ended."""

    id: Uuid
    status: str


async def hangup(request: web.Request) -> web.Response:
    """Ask the process holding the call's stream to end it (LISTEN/NOTIFY).

    The carrier is told too when configured, so the call ends even if no process holds its
    stream any more (the holder died): the phone line is the source of truth.
    """
    user_call = await call_records.get_call(request.app[POOL], path_uuid(request, "id"))
    if user_call is None:
        await auth.current_user(request)
        raise NotFound("call not found")
    try:
        await auth.business_for(request, user_call["business_id"])
    except NotFound:
        raise NotFound("call not found") from None
    if user_call["ended_at"] is not None or user_call["status"] in FINAL_STATUSES:
        return web.json_response({"id": str(user_call["id"]), "status": "ended"})
    await call_control.send(request.app[POOL], user_call["call_sid"], "hangup")
    carrier = request.app[CARRIER]
    if carrier is not None:
        try:
            await carrier.end_call(user_call["call_sid"])
        except CarrierError as exc:
            # Already over at the carrier, or the carrier is unreachable: the notify still stands.
            log.warning("carrier_hangup_failed", call_sid=user_call["call_sid"], error=str(exc), code=exc.code)
    return web.json_response({"id": str(user_call["id"]), "status": "hangup_requested"}, status=202)


ROUTES = (
    Route("POST", "/api/calls/{id}/hangup", hangup, "End a live call", "calls", "jwt",
          (Reply(200, HangupResult, description="Already ended"),
           Reply(202, HangupResult, description="Hangup requested")), errors=(404,)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
