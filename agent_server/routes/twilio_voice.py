"""Twilio's voice webhook (a call arrives → TwiML that opens the media stream) and the call status callback.

Both are signed by Twilio; a forged request answers 403 before anything is read or
written. The webhook must answer fast (Twilio gives up after 15 s and the caller hears
ringing meanwhile), so it does two indexed reads and one insert, then returns TwiML.

With ``[calls] max_live_calls`` set, a call that arrives while that many are in progress
(counted in the database, so across every process) is rejected with a busy signal before
anything is held or opened: overload then costs a new caller a redial instead of degrading
every live call. The rejected call is recorded (status ``busy``, reason ``at_capacity``) so
the dashboard shows it.
"""

from __future__ import annotations

import structlog
from aiohttp import web
from twilio.twiml.voice_response import Connect, VoiceResponse

from agent_server import agents, stream_tokens
from agent_server.api.route import Reply, Route, register
from agent_server.metrics import METRICS
from agent_server.state import CALL_HOOKS, LIVE_CALLS, POOL, SETTINGS
from agent_server.routes.twilio_shapes import SIGNATURE, StatusCallbackForm, VoiceWebhookForm
from agent_server.twilio_signature import verified_form
from llm_usage import token_budgets, token_settings
from llm_usage.token_caps import CALL_MIN_TOKENS
from media import call_records
from media.pipeline.hooks import CallHooks, CallInfo, LiveCalls
from media.pipeline.lifecycle import EndReason
from phone_numbers import registry

log = structlog.get_logger(__name__)

STREAM_PATH = "/api/voice-agent/stream"


def twiml(response: VoiceResponse) -> web.Response:
    """A TwiML document response."""
    return web.Response(text=str(response), content_type="text/xml")


def say_and_hang_up(text: str) -> web.Response:
    """TwiML that speaks ``text`` and ends the call (unknown number, refused call)."""
    response = VoiceResponse()
    response.say(text)
    response.hangup()
    return twiml(response)


def stream_url(public_url: str) -> str:
    """The media stream's URL: the public base with https→wss (http→ws for local runs)."""
    scheme, rest = public_url.split("://", 1)
    return ("wss" if scheme == "https" else "ws") + "://" + rest + STREAM_PATH


def connect_stream(url: str, call_id: str, token: str) -> web.Response:
    """TwiML that connects the call to our bidirectional media stream.

    The call id and token travel as ``<Parameter>``s (Twilio forbids query strings on the
    stream URL) and come back in the stream's ``start`` message.
    """
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=url)
    stream.parameter(name="callId", value=call_id)
    stream.parameter(name="token", value=token)
    response.append(connect)
    return twiml(response)


async def handle_call(request: web.Request) -> web.Response:
    """A call to one of our numbers: find the business and agent, record the call, open the stream.

    The call keeps the agent's current version: the stream runs with that configuration, so an
    edit saved while the phone rings or mid-call applies from the next call on.
    """
    form = await verified_form(request)
    settings = request.app[SETTINGS]
    call_sid, to_number = form.get("CallSid", ""), form.get("To", "")
    pool = request.app[POOL]
    route = await registry.route_for(pool, to_number)
    agent = await agents.get_agent(pool, route.agent_id) if route and route.agent_id else None
    if not call_sid or route is None or route.status != "active" or agent is None or not agent.active:
        return say_and_hang_up(settings.calls.unavailable_text)
    from_number = form.get("From", "")
    if await _at_capacity(request):
        log.warning("call_rejected_at_capacity", call_sid=call_sid, max_live_calls=settings.calls.max_live_calls)
        request.app[METRICS].calls_rejected.inc()
        await call_records.record_busy_call(
            pool, call_sid=call_sid, business_id=route.business_id, number_id=route.number_id, agent_id=agent.id,
            from_number=from_number, to_number=to_number, end_reason="at_capacity")
        return reject_busy()
    call_id = await call_records.record_inbound_call(
        pool, call_sid=call_sid, business_id=route.business_id, number_id=route.number_id, agent_id=agent.id,
        from_number=from_number, to_number=to_number, agent_version=agent.version or None)
    limits = (await token_settings.settings_of(pool, agent.id)).limits
    if (spent := await token_budgets.spent(pool, agent.id, limits, minimum=CALL_MIN_TOKENS)) is not None:
        # Spoken before any stream or hold: nothing is reserved or charged for a call the agent can't take.
        await call_records.finish_call(pool, call_id, end_reason="token_limit", duration_seconds=0)
        return say_and_hang_up(settings.limits.text(spent.period))
    info = CallInfo(call_id, call_sid, route.business_id, agent.id, from_number, to_number)
    refusal = await request.app[CALL_HOOKS].admit(info)
    if refusal is not None:
        await call_records.finish_call(pool, call_id, end_reason="refused", duration_seconds=0)
        return say_and_hang_up(refusal)
    token = stream_tokens.mint(settings.twilio.auth_token, call_id, call_sid, settings.calls.stream_token_ttl_seconds)
    return connect_stream(stream_url(settings.server.public_url), str(call_id), token)


def reject_busy() -> web.Response:
    """TwiML that declines the call with a busy signal (it is never answered, so nobody pays for it)."""
    response = VoiceResponse()
    response.reject(reason="busy")
    return twiml(response)


async def _at_capacity(request: web.Request) -> bool:
    calls = request.app[SETTINGS].calls
    if calls.max_live_calls == 0:
        return False
    live = await call_records.live_call_count(request.app[POOL], within_seconds=calls.max_call_seconds + 60)
    return live >= calls.max_live_calls


async def handle_status(request: web.Request) -> web.Response:
    """Twilio's call status callback: move the status forward, keep ``CallDuration``, end a live call."""
    form = await verified_form(request)
    call_sid, status = form.get("CallSid", ""), form.get("CallStatus", "")
    duration_text = form.get("CallDuration", "")
    duration = int(duration_text) if duration_text.isdigit() else None
    if call_sid and status:
        await call_records.apply_status(request.app[POOL], call_sid, status, duration)
        live = request.app[LIVE_CALLS].by_sid(call_sid)
        if live is not None and status in call_records.TERMINAL_STATUSES:
            live.request_end(EndReason.STATUS_CALLBACK)
    return twiml(VoiceResponse())


_FORM = "application/x-www-form-urlencoded"
_TWIML = Reply(200, media_type="text/xml", description="TwiML")
ROUTES = (
    Route("POST", "/api/voice-agent/handle-call", handle_call, "Twilio voice webhook: answer with a media stream",
          "twilio", "twilio", (_TWIML,), errors=(403,), body=VoiceWebhookForm, body_media_type=_FORM,
          headers=(SIGNATURE,)),
    Route("POST", "/api/voice-agent/status", handle_status, "Twilio call status callback", "twilio", "twilio",
          (_TWIML,), errors=(403,), body=StatusCallbackForm, body_media_type=_FORM, headers=(SIGNATURE,)),
)


def setup(app: web.Application) -> None:
    if CALL_HOOKS not in app:
        app[CALL_HOOKS] = CallHooks()
    if LIVE_CALLS not in app:
        app[LIVE_CALLS] = LiveCalls()
    register(app, ROUTES)
