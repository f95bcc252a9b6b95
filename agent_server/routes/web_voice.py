"""Calls from a browser, on the call pipeline and billed like a call: a token to start one, and its stream.

`GET /api/voice/token?agentId=` (the dashboard's test call, JWT) and `POST
/api/widget/{chatbotId}/voice/token` (the widget's mic: public, Origin-checked, only while the
widget channel's `voiceEnabled` is on, counted against the widget's per-IP limit) each admit
one call the way the voice webhook admits a phone call: the call row (`channel` web), the token
cap, and the first grant of the call's wallet hold (402 when the wallet can't pay it). They
answer `{token, callId, expiresAt, url}`: the token is single use, admits for 120 s, is stored
only hashed and is bound to its call (so to its agent) and to the origin that asked for it.

`GET /api/voice/web/stream?callId=` speaks Twilio Media Streams, so a browser client is the
same state machine as a Twilio call: `start` (the token in `customParameters.token`, the format
in `mediaFormat`), `media`, `mark`, `stop` in; `media`, `mark`, `clear` out. A page of another
origin than the token's is refused with 403 before the upgrade; a wrong, used or expired token
closes the socket with 1008 and opens no provider. `mediaFormat` is `audio/x-mulaw` at 8 kHz
(Twilio's, passed through) or `audio/L16` at 16 kHz, little-endian, which is converted at the
edge, both ways, frame by frame (`media.audio.web_l16`); any other is refused with 1008.

Binary frames: a binary message in is one frame of the caller's audio in the negotiated format
(a `media` payload without its JSON and base64), always accepted on this stream. The agent's
audio goes out as binary messages of 20 ms (160 μ-law or 640 L16 bytes) only when `start`'s
`customParameters.frames` is `binary`: the browser asks, since a client written for Twilio's
messages must keep getting them; marks and `clear` stay JSON either way, as they carry names.

The grant's `recording` says the call will be recorded, so the page can show a badge before the
spoken notice. The browser's side is `static/voice.js` (served as the widget script's `?part=voice`).
"""

from __future__ import annotations

import datetime
import secrets
from typing import Final

import msgspec
import structlog
from aiohttp import web

from agent_server import agents
from agent_server.api.decoding import read_query
from agent_server.api.route import Header, Reply, Route, register
from agent_server.api.shapes import Instant, Query, Uuid, as_uuid
from agent_server.errors import ApiError, NotFound
from agent_server.message_limits import within_limits
from agent_server.routes.agents import own_agent
from agent_server.routes.token_settings import limit_reached
from agent_server.routes.twilio_media import Convert, StreamRefused, serve_stream, session_for
from agent_server.routes.widget import UNPAID_CODE, checked_origin, cors, public_agent, visitor_ip
from agent_server.state import CALL_HOOKS, LIFECYCLE, POOL, SETTINGS
from agent_server.widget_access import origin_of
from conversations.rate_limits import Scope
from llm_usage import token_budgets, token_settings
from llm_usage.token_caps import CALL_MIN_TOKENS
from media import call_records, web_calls
from media.audio.web_l16 import l16_to_mulaw, mulaw_to_l16
from media.pipeline.hooks import CallInfo
from media.pipeline.session import CallSession
from media.protocol.twilio import Start

log = structlog.get_logger(__name__)

TOKEN_TTL_SECONDS: Final = 120
STREAM_PATH: Final = "/api/voice/web/stream"
MULAW: Final = ("audio/x-mulaw", 8000)
L16: Final = ("audio/l16", 16000)


class TokenQuery(Query):
    agent_id: Uuid


class StreamQuery(Query):
    call_id: Uuid


class WebCallGrant(msgspec.Struct, rename="camel"):
    """One admitted browser call: connect to `url` within 120 s and send `token` in `start`."""

    token: str
    call_id: Uuid
    expires_at: Instant
    url: str
    recording: bool
    """The call will be recorded: the page shows a badge (the notice is spoken before the greeting too)."""


async def voice_token(request: web.Request) -> web.Response:
    """GET /api/voice/token?agentId=: the dashboard's test call with one of its agents."""
    query = read_query(request, TokenQuery)
    agent = await own_agent(request, as_uuid(query.agent_id, "agentId"))
    return await _grant(request, agent, request.headers.get("Origin"))


async def widget_voice_token(request: web.Request) -> web.StreamResponse:
    """POST /api/widget/{chatbotId}/voice/token: a visitor's call from the widget's mic."""
    agent = await public_agent(request)
    origin = checked_origin(request, agent, required=True)
    if not agents.effective(agent).widget.voice_enabled:
        raise NotFound("no such chatbot")
    if not await within_limits(request.app, [(Scope.WIDGET_IP, visitor_ip(request))]):
        raise ApiError(429, "RATE_LIMITED", "too many requests; please wait a moment")
    return cors(await _grant(request, agent, origin), origin)


async def _grant(request: web.Request, agent: agents.Agent, origin: str | None) -> web.Response:
    """Admit one browser call to ``agent``: the call row, the token cap, the wallet's first grant, the token."""
    app = request.app
    pool = app[POOL]
    if not agent.active:
        raise NotFound("no such agent")
    call_sid = "WB" + secrets.token_hex(16)
    call_id = await web_calls.record_web_call(pool, call_sid=call_sid, business_id=agent.business_id,
                                              agent_id=agent.id, agent_version=agent.version or None)
    limits = (await token_settings.settings_of(pool, agent.id)).limits
    if (spent := await token_budgets.spent(pool, agent.id, limits, minimum=CALL_MIN_TOKENS)) is not None:
        await call_records.finish_call(pool, call_id, end_reason="token_limit", duration_seconds=0)
        raise limit_reached(app, spent)
    refusal = await app[CALL_HOOKS].admit(CallInfo(call_id, call_sid, agent.business_id, agent.id,
                                                   web_calls.WEB, web_calls.WEB))
    if refusal is not None:
        await call_records.finish_call(pool, call_id, end_reason="refused", duration_seconds=0)
        raise ApiError(402, UNPAID_CODE, refusal)
    token = secrets.token_urlsafe(32)
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=TOKEN_TTL_SECONDS)
    await web_calls.store_token(pool, call_id, token, origin=origin, expires_at=expires)
    public = app[SETTINGS].server.public_url
    scheme, rest = public.split("://", 1)
    url = f"{'wss' if scheme == 'https' else 'ws'}://{rest}{STREAM_PATH}?callId={call_id}"
    log.info("web_call_granted", call_sid=call_sid, agent_id=str(agent.id))
    recorded = agents.effective(agent).voice.recording.enabled
    return web.json_response({"token": token, "callId": str(call_id), "expiresAt": expires.isoformat(), "url": url,
                              "recording": recorded})


async def web_stream(request: web.Request) -> web.StreamResponse:
    """GET /api/voice/web/stream?callId=: the browser's call, Twilio Media Streams on the wire."""
    app = request.app
    if app[LIFECYCLE].draining:
        raise ApiError(503, "CALLS_UNAVAILABLE", "this server is not taking calls")
    call_id = as_uuid(read_query(request, StreamQuery).call_id, "callId")
    known, bound = await web_calls.bound_origin(app[POOL], call_id)
    origin = request.headers.get("Origin")
    if known and bound is not None and origin_of(origin or "") != origin_of(bound):
        raise ApiError(403, "ORIGIN_NOT_ALLOWED", "this site may not use this call")

    async def opened(ws: web.WebSocketResponse, start: Start) -> tuple[CallSession, Convert | None]:
        fmt = start.media_format
        wire = (fmt.encoding.lower(), fmt.sample_rate)
        if wire not in (MULAW, L16) or fmt.channels != 1:
            raise StreamRefused(f"mediaFormat {fmt.encoding} at {fmt.sample_rate} Hz is not taken")
        l16 = wire == L16
        call_sid = await web_calls.use_token(app[POOL], call_id, start.custom_parameters.get("token", ""))
        if call_sid is None:
            raise StreamRefused("web call token wrong, used or expired")
        claim = await call_records.claim_stream(app[POOL], call_id, call_sid)
        if claim is None:
            raise StreamRefused("call unknown, ended, or already streaming")
        binary = start.custom_parameters.get("frames") == "binary"
        session = await session_for(request, ws, claim, start.stream_sid, mulaw_to_l16 if l16 else None,
                                    binary=binary)
        return session, l16_to_mulaw if l16 else None

    return await serve_stream(request, opened, refused="web_stream_refused", binary_frames=True)


_ORIGIN = Header("Origin", "The page's origin: the token is bound to it")
ROUTES = (
    Route("GET", "/api/voice/token", voice_token, "A browser test call with one of the business's agents", "calls",
          "jwt", (Reply(200, WebCallGrant),), errors=(402, 404, 429), query=TokenQuery),
    Route("POST", "/api/widget/{chatbotId}/voice/token", widget_voice_token, "A visitor's call from the widget",
          "widget", "public", (Reply(200, WebCallGrant),), errors=(402, 403, 404, 429), headers=(_ORIGIN,)),
    Route("GET", STREAM_PATH, web_stream, "A browser call's media stream (Twilio Media Streams)", "calls", "public",
          (Reply(101, description="Switching Protocols: Twilio Media Streams messages"),), errors=(403, 503),
          query=StreamQuery, headers=(_ORIGIN,), websocket=True),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
