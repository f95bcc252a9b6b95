"""Twilio Media Streams websocket (/api/voice-agent/stream): authenticate the stream, run the call's session.

A stream is accepted only when it proves it belongs to a call our webhook admitted: a
Twilio signature on the upgrade, when present, must check out (else 403 before the
upgrade), and the ``start`` message must carry the call id and the signed token the
webhook put in the TwiML, for the same CallSid, once. Anything else closes the socket
with 1008 before any provider connection is opened. Malformed frames end the stream with
a logged reason; however the socket ends, the session tears down every task it started.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Final

import aiohttp
import structlog
from aiohttp import web

from agent_server import agent_edits, agents, call_llm_rows, stream_tokens
from agent_server.agent_tools import SPEECH_CACHE, call_tools
from agent_server.call_token_caps import CALL_TOKENS
from agent_server.knowledge_embeddings import grounding_for
from agent_server.api.route import Header, Reply, Route, register
from agent_server.config import Settings
from agent_server.errors import ApiError
from agent_server.metrics import METRICS
from agent_server.state import (
    CALL_HOOKS,
    CARRIER,
    LIFECYCLE,
    LIVE_CALLS,
    POOL,
    PROVIDERS,
    SETTINGS,
    SOCKETS,
    Lifecycle,
)
from agent_server.twilio_signature import websocket_signature_ok
from knowledge import store
from media import call_records
from media.llm.faq import FaqEntry
from media.pipeline.grounding import CallGrounding
from media.pipeline.hooks import CallInfo
from media.pipeline.lifecycle import EndReason
from media.pipeline.prompt import AgentProfile
from media.recording.call_recording import open_recording
from media.pipeline.speech_cache import SpeechCache
from media.pipeline.session import CallSession, CallSettings
from media.protocol.twilio import Dtmf, Mark, Media, Start, Stop, media_frame, parse_message
from media.protocol.websocket_outbox import WebSocketOutbox
from media.stt.local import PocketsphinxStt

log = structlog.get_logger(__name__)

START_TIMEOUT: Final = 10.0
"""Twilio sends ``connected`` and ``start`` right after the upgrade; a silent socket is dropped."""
MAX_FRAME_BYTES: Final = 64 * 1024


class StreamRefused(Exception):
    """The stream's ``start`` did not prove it belongs to an admitted call."""


def call_settings(settings: Settings) -> CallSettings:
    """The ``[calls]`` section in the pipeline's terms."""
    calls = settings.calls
    return CallSettings(
        barge_in_min_words=calls.barge_in_min_words,
        false_interruption_timeout=calls.false_interruption_timeout_seconds,
        mark_every_frames=max(1, calls.mark_interval_ms // 20),
        goodbye_text=calls.goodbye_text, transfer_text=calls.transfer_text, apology_text=calls.apology_text,
        max_call_seconds=float(calls.max_call_seconds), media_timeout=calls.media_timeout_seconds,
        goodbye_timeout=calls.goodbye_timeout_seconds, dtmf_timeout=calls.dtmf_timeout_seconds,
        cant_hear_text=calls.cant_hear_text, llm_first_token_timeout=settings.llm.first_token_timeout_seconds,
        tool_filler_text=calls.tool_filler_text, tool_filler_after=settings.actions.voice_filler_after_ms / 1000,
        tool_timeout=settings.actions.voice_timeout_ms / 1000,
    )


def agent_profile(agent: agents.Agent, settings: Settings) -> AgentProfile:
    """An agent row as the pipeline needs it, with the process defaults filled in."""
    return AgentProfile(
        system_prompt=agent.system_prompt, greeting=agent.greeting, voice=agent.voice or None,
        language=agent.language, model=agent.model or settings.openai.model,
        temperature=agent.temperature if agent.temperature is not None else settings.openai.temperature,
        faq=tuple(FaqEntry(e.question, e.answer) for e in agent.faq), transfer_number=agent.transfer_number,
    )


async def media_stream(request: web.Request) -> web.StreamResponse:
    """The stream's whole life: upgrade, ``start``, the session, teardown."""
    app = request.app
    settings = app[SETTINGS]
    if not settings.twilio.auth_token or app[LIFECYCLE].draining:
        raise ApiError(503, "CALLS_UNAVAILABLE", "this server is not taking calls")
    if "X-Twilio-Signature" in request.headers and not websocket_signature_ok(request):
        raise ApiError(403, "TWILIO_SIGNATURE_INVALID", "stream signature does not match")

    async def opened(ws: web.WebSocketResponse, start: Start) -> tuple[CallSession, Convert | None]:
        return await _open_session(request, ws, start), None

    return await serve_stream(request, opened, refused="media_stream_refused")


Convert = Callable[[bytes], bytes]
"""One frame's audio from one format to another (a browser's L16 to μ-law, or back)."""


SessionOpener = Callable[[web.WebSocketResponse, Start], Awaitable[tuple[CallSession, Convert | None]]]
"""Checks a stream's ``start`` and builds its session, with the converter of its inbound audio."""


async def serve_stream(request: web.Request, open_session: SessionOpener, *, refused: str,
                       binary_frames: bool = False) -> web.WebSocketResponse:
    """A media stream's socket: upgrade, ``start``, the session ``open_session`` builds, teardown.

    ``open_session`` checks the ``start`` (raising StreamRefused, which closes the socket with
    1008 before any provider is opened) and returns the session with the converter of inbound
    audio, if the socket's format is not μ-law. With ``binary_frames`` (a browser's stream) a
    binary message is a frame of inbound audio in the socket's format, as a ``media`` message's
    payload would be; on Twilio's stream one is a protocol error.

    No permessage-deflate: Twilio does not ask for it, and the outbox writes plain frames. No ping
    heartbeat either: a media frame arrives every 20 ms, so the session's media watchdog ([calls]
    media_timeout_seconds) is the liveness check, and aiohttp's heartbeat would reschedule a timer
    for every one of those frames.
    """
    ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_BYTES, compress=False)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    try:
        try:
            async with asyncio.timeout(START_TIMEOUT):
                start = await wait_for_start(ws)
            session, decode_audio = await open_session(ws, start)
        except (StreamRefused, ValueError, TimeoutError) as exc:
            log.warning(refused, reason=str(exc) or type(exc).__name__)
            await ws.close(code=aiohttp.WSCloseCode.POLICY_VIOLATION, message=b"stream refused")
            return ws
        await run_stream(request, ws, session, decode_audio, binary_frames)
    finally:
        request.app[SOCKETS].discard(ws)
    return ws


async def wait_for_start(ws: web.WebSocketResponse) -> Start:
    async for msg in ws:
        if msg.type is not aiohttp.WSMsgType.TEXT:
            break
        message = parse_message(msg.data)
        if isinstance(message, Start):
            return message
    raise StreamRefused("socket closed before start")


async def _open_session(request: web.Request, ws: web.WebSocketResponse, start: Start) -> CallSession:
    """Check the stream's token, claim the call once, and build its session."""
    app = request.app
    settings = app[SETTINGS]
    params = start.custom_parameters
    try:
        call_id = uuid.UUID(params.get("callId", ""))
    except ValueError:
        raise StreamRefused("start without a valid callId") from None
    if not stream_tokens.verify(settings.twilio.auth_token, params.get("token", ""), call_id, start.call_sid):
        raise StreamRefused("stream token invalid or expired")
    claim = await call_records.claim_stream(app[POOL], call_id, start.call_sid)
    if claim is None or claim.agent_id is None:
        raise StreamRefused("call unknown, ended, or already streaming")
    return await session_for(request, ws, claim, start.stream_sid)


async def session_for(request: web.Request, ws: web.WebSocketResponse, claim: call_records.StreamClaim,
                      stream_sid: str, encode_audio: Callable[[bytes], bytes] | None = None, *,
                      binary: bool = False) -> CallSession:
    """The session of a claimed call (a phone call's stream, or a browser's): its agent, providers and recording.

    ``encode_audio`` converts the agent's μ-law frames to the socket's format (a browser's L16);
    with ``binary`` they go out as binary messages of audio alone.
    """
    app = request.app
    settings = app[SETTINGS]
    pool = app[POOL]
    if claim.agent_id is None:
        raise StreamRefused("the call has no agent")
    # The version the webhook admitted the call with, not the agent as edited since.
    stored = await agent_edits.agent_at(pool, claim.agent_id, claim.agent_version)
    if stored is None:
        raise StreamRefused("the call's agent no longer exists")
    agent = agents.on_channel(stored, "voice")  # the voice channel's greeting, voice, language, model, temperature
    recorded = agents.effective(stored).voice.recording
    if recorded.enabled:  # the notice comes before anything else the caller hears
        agent = dataclasses.replace(agent, greeting=" ".join(t for t in (recorded.notice_text, agent.greeting) if t))
    providers = app[PROVIDERS]
    info = CallInfo(claim.call_id, claim.call_sid, claim.business_id, agent.id, claim.from_number, claim.to_number)
    transport = request.transport
    if transport is None:
        raise StreamRefused("socket closed before the session started")
    return CallSession(
        info=info, profile=agent_profile(agent, settings), settings=call_settings(settings), stt=providers.stt,
        llm=providers.llm, tts=providers.tts, link=WebSocketOutbox(_ClosingSocket(ws, app[LIFECYCLE]), transport),
        stream_sid=stream_sid, encode_audio=encode_audio, binary_media=binary,
        hooks=app[CALL_HOOKS],
        recorder=call_records.CallRecorder(pool, claim.call_id,
                                           llm_sink=app[CALL_TOKENS].sink(claim.call_sid, call_llm_rows.sink(
                                               pool, settings.provider_costs.llm, claim))),
        carrier=app[CARRIER], metrics=app[METRICS],
        fallback_tts=providers.fallback_tts, grounding=await _grounding(app, agent),
        tools=await call_tools(app, agent, info), speech_cache=app[SPEECH_CACHE],
        recording=await open_recording(pool, Path(settings.recordings.dir), call_id=claim.call_id,
                                       business_id=claim.business_id, retention_days=recorded.retention_days,
                                       upload=settings.recordings.backend == "s3")
        if recorded.enabled else None,
    )


async def _grounding(app: web.Application, agent: agents.Agent) -> CallGrounding | None:
    """The agent's knowledge search for the call's answers, within the call's budget (None: it has no sources).

    The vector side (embeddings on: the question's vector and the nearest chunks) may take half
    the budget: beyond it the answer is grounded by full-text search alone, rather than the
    whole search missing the budget.
    """
    if not await store.has_sources(app[POOL], agent.id):
        return None
    budget = app[SETTINGS].knowledge.call_retrieval_budget_ms / 1000
    search = grounding_for(app, agent, embedding_timeout_seconds=budget / 2)
    return CallGrounding(search.references, budget)


class _ClosingSocket:
    """The call's socket as its outbox closes it: with 1001 (going away) once the process drains,
    so the far end can tell a server restart from an ordinary end of call."""

    __slots__ = ("_ws", "_lifecycle")

    def __init__(self, ws: web.WebSocketResponse, lifecycle: Lifecycle) -> None:
        self._ws = ws
        self._lifecycle = lifecycle

    @property
    def closed(self) -> bool:
        return self._ws.closed

    async def close(self) -> bool:
        if self._lifecycle.draining:
            return await self._ws.close(code=aiohttp.WSCloseCode.GOING_AWAY, message=b"server shutdown")
        return await self._ws.close()


async def run_stream(request: web.Request, ws: web.WebSocketResponse, session: CallSession,
                     decode_audio: Callable[[bytes], bytes] | None = None, binary_frames: bool = False) -> None:
    """Feed the socket to the session until either side ends the call; always wait for its teardown.

    ``decode_audio`` converts each inbound frame to μ-law first (a browser's L16); with
    ``binary_frames`` binary messages are inbound audio too.
    """
    app = request.app
    live = app[LIVE_CALLS]
    structlog.contextvars.bind_contextvars(call_sid=session.info.call_sid, business_id=str(session.info.business_id))
    live.add(session)
    task = asyncio.create_task(session.run())
    reason = EndReason.STREAM_STOPPED
    try:
        reason = await _read(ws, session, decode_audio, binary_frames)
        if reason is EndReason.STREAM_STOPPED and app[LIFECYCLE].draining:
            reason = EndReason.SHUTDOWN
    finally:
        session.request_end(reason)
        task.add_done_callback(lambda _: live.remove(session))
        # Shielded: if the server drops this handler (connection lost), the teardown still finishes.
        await asyncio.shield(task)


async def _read(ws: web.WebSocketResponse, session: CallSession,
                decode_audio: Callable[[bytes], bytes] | None, binary_frames: bool) -> EndReason:
    """The per-frame loop: media straight to the session, the rest as events.

    A binary frame carries no timestamp: it is stamped with the audio time the stream's binary
    frames have carried before it (μ-law: 8 bytes a millisecond).
    """
    media = session.media
    if decode_audio is not None:
        def media(payload: bytes, timestamp_ms: int, to_session: Callable[[bytes, int], None] = session.media) -> None:
            to_session(decode_audio(payload), timestamp_ms)
    binary_bytes = 0
    async for msg in ws:
        if binary_frames and msg.type is aiohttp.WSMsgType.BINARY:
            audio = msg.data if decode_audio is None else decode_audio(msg.data)
            session.media(audio, binary_bytes // 8)
            binary_bytes += len(audio)
            continue
        if msg.type is not aiohttp.WSMsgType.TEXT:
            log.warning("media_stream_malformed", reason=f"unexpected {msg.type.name} frame")
            return EndReason.PROTOCOL_ERROR
        frame = media_frame(msg.data)
        if frame is not None:
            media(frame[0], frame[1])
            continue
        try:
            message = parse_message(msg.data)
        except ValueError as exc:
            log.warning("media_stream_malformed", reason=str(exc))
            return EndReason.PROTOCOL_ERROR
        if isinstance(message, Media):  # a media frame the shortcut declined (see media_frame)
            media(message.payload, message.timestamp)
        elif isinstance(message, Mark):
            session.mark(message.name)
        elif isinstance(message, Dtmf):
            session.dtmf(message.digit)
        elif isinstance(message, Stop):
            return EndReason.CALLER_HUNG_UP
    return EndReason.STREAM_STOPPED


async def _warm_up_local_stt(app: web.Application) -> None:
    """Load the local recogniser before the first call rather than during it.

    pocketsphinx's model load holds the GIL for about a second even on its worker thread;
    paid at a call's start it would freeze every call in the process.
    """
    stt = app[PROVIDERS].stt
    if isinstance(stt, PocketsphinxStt):
        session = await stt.open_session("en-US")
        await session.close()


ROUTES = (
    Route("GET", "/api/voice-agent/stream", media_stream, "Twilio Media Streams websocket (bidirectional audio)",
          "twilio", "twilio", (Reply(101, description="Switching Protocols: Twilio Media Streams messages"),),
          errors=(403, 503), websocket=True,
          headers=(Header("X-Twilio-Signature", "when present, must sign the wss:// URL (403 otherwise); the "
                          "`start` message must carry the call's signed stream token (else close 1008)"),)),
)


def setup(app: web.Application) -> None:
    register(app, ROUTES)
    app[SPEECH_CACHE] = SpeechCache()
    app.on_startup.append(_warm_up_local_stt)
