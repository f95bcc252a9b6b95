"""A phone caller that behaves as Twilio does, for the ``agent-server call`` command, tests and benches.

It posts the signed voice webhook, parses the TwiML, opens the media stream with the
signature and the TwiML's parameters, then streams the caller's audio at real-time pace
(20 ms frames, silence between lines, as a phone line does). It plays the agent's audio on
a simulated clock: a ``mark`` is echoed when playback reaches it, ``clear`` drops what has
not played and echoes the pending marks at once, and ``stop`` ends the call. It measures,
from the caller's side, each turn's response latency (last caller speech frame sent →
first agent frame received), barge-in latency (first frame of an interruption → ``clear``
received) and playback gaps inside a reply.

Replies are recognised by the server's mark names: a mark ending in ``.end`` closes one.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import math
import secrets
import xml.etree.ElementTree as ET
from collections import deque
from dataclasses import dataclass, field
from collections.abc import Coroutine
from typing import Any, Final, TypeAlias

import aiohttp
import orjson
from twilio.request_validator import RequestValidator
from yarl import URL

from media.audio.g711 import SILENCE_FRAME, frames_160, pad_frame
from media.protocol.twilio import (
    Clear,
    Connected,
    Dtmf,
    Mark,
    MediaFormat,
    OutboundMark,
    OutboundMedia,
    Start,
    Stop,
    parse_outbound,
)

FRAME_SECONDS: Final = 0.02
VOICE_PATH: Final = "/api/voice-agent/handle-call"
_SILENCE_B64: Final = binascii.b2a_base64(SILENCE_FRAME, newline=False)


@dataclass(frozen=True, slots=True)
class Say:
    """The caller speaks ``audio`` (8 kHz mu-law).

    Attributes:
        audio: what the caller says.
        barge_in_after: start this many seconds after the agent's next reply starts playing
            (an interruption); None waits until the agent is quiet.
    """

    audio: bytes
    barge_in_after: float | None = None


@dataclass(frozen=True, slots=True)
class Press:
    """The caller presses keys (one ``dtmf`` event each) once the agent is quiet."""

    digits: str


@dataclass(frozen=True, slots=True)
class HangUp:
    """The caller hangs up ``after_agent_audio`` seconds into the agent's next reply (None: when quiet)."""

    after_agent_audio: float | None = None


Step: TypeAlias = Say | Press | HangUp


@dataclass(slots=True)
class CallResult:
    """What the caller experienced."""

    call_sid: str
    twiml: str
    refused_with: str | None = None
    close_code: int | None = None
    hung_up_by_agent: bool = False
    heard: bytearray = field(default_factory=bytearray)
    replies: int = 0
    clears: int = 0
    marks_echoed: int = 0
    turn_latencies_ms: list[float] = field(default_factory=list)
    barge_in_latencies_ms: list[float] = field(default_factory=list)
    gaps_ms: list[float] = field(default_factory=list)


def sign(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's ``X-Twilio-Signature`` for ``url`` and form ``params``."""
    return str(RequestValidator(auth_token).compute_signature(url, params))


def parse_twiml(xml: str) -> tuple[str | None, dict[str, str], str | None]:
    """The stream URL and parameters of ``<Connect><Stream>``, or what a refused caller hears.

    A refusal is the ``<Say>`` text, or ``"rejected: <reason>"`` for a ``<Reject>`` (a busy
    signal or a number that seems not to exist; nothing is said).
    """
    root = ET.fromstring(xml)
    stream = root.find("./Connect/Stream")
    reject = root.find("./Reject")
    if stream is None and reject is not None:
        return None, {}, f"rejected: {reject.get('reason', 'rejected')}"
    if stream is None:
        say = root.find("./Say")
        return None, {}, (say.text or "") if say is not None else ""
    params = {p.get("name", ""): p.get("value", "") for p in stream.findall("./Parameter")}
    return stream.get("url"), params, None


class _Pacer:
    """Timed wake-ups shared by every call on one event loop: one timer per millisecond, not one per sleep.

    Each call wakes 50 times a second to send a frame, and its script's waits poll the player.
    With ``asyncio.sleep`` each wake-up is a timer of its own (created, fired, closed); with
    the waiters of one millisecond under one timer a wake-up cost about a quarter less
    (uvloop, 200 tasks at 20 ms: 12.9 -> 9.8 µs of CPU), at the millisecond resolution uvloop's
    timers have anyway. Every waiter still has its own future, so a cancelled call never
    cancels or wakes another's.
    """

    __slots__ = ("loop", "_slots")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._slots: dict[int, list[asyncio.Future[None]]] = {}

    def until(self, when: float) -> asyncio.Future[None]:
        """A future that resolves at loop time ``when``, rounded up to the millisecond (never early)."""
        slot = math.ceil(when * 1000)
        waiters = self._slots.get(slot)
        if waiters is None:
            waiters = self._slots[slot] = []
            self.loop.call_at(slot / 1000, self._wake, slot)
        future: asyncio.Future[None] = self.loop.create_future()
        waiters.append(future)
        return future

    def _wake(self, slot: int) -> None:
        for future in self._slots.pop(slot):
            _resolve(future)


class _Poll:
    """The sleeps of one polling wait: every ``period`` from ``start``, skipping polls that cannot succeed.

    A call spends most of its time waiting for the agent, and polling every 10-20 ms was
    over a quarter of the simulator's wake-ups. A wait that knows its condition cannot hold before
    some time (a lower bound from state that only moves one way), or before the player's
    reply ends (:meth:`soon`), sleeps to the first poll at or after that instead: it returns
    on the same poll as before, with fewer wake-ups. A sleep ends at once when the receiver
    does (the server hung up), so that exit is not delayed either.
    """

    __slots__ = ("_pacer", "_player", "_receiver", "_start", "_period", "_polls", "_waiter")

    def __init__(self, player: _Player, receiver: asyncio.Task[None], start: float, period: float) -> None:
        self._pacer = player.pacer
        self._player = player
        self._receiver = receiver
        self._start = start
        self._period = period
        self._polls = 0
        self._waiter: asyncio.Future[None] | None = None

    def __enter__(self) -> _Poll:
        self._receiver.add_done_callback(self._wake)
        self._player.watcher = self
        return self

    def __exit__(self, *exc: object) -> None:
        self._receiver.remove_done_callback(self._wake)
        self._player.watcher = None

    def _wake(self, _receiver: asyncio.Task[None]) -> None:
        if self._waiter is not None:
            _resolve(self._waiter)

    def next(self, not_before: float) -> asyncio.Future[None]:
        """Sleep to the next poll after now that is not before ``not_before`` (finite: cap it with the deadline).

        The poll count only grows, so a rounding error can never make a poll come round twice.
        """
        start, period = self._start, self._period
        self._polls = max(self._polls + 1, self._after_now(), math.ceil((not_before - start) / period))
        self._waiter = self._pacer.until(start + self._polls * period)
        return self._waiter

    def soon(self) -> None:
        """The player's state changed: a poll skipped on the strength of the old state is due again."""
        k, waiter = self._after_now(), self._waiter
        if waiter is not None and not waiter.done() and k < self._polls:
            self._polls = k
            self._pacer.until(self._start + k * self._period).add_done_callback(lambda _: _resolve(waiter))

    def _after_now(self) -> int:
        return math.floor((self._pacer.loop.time() - self._start) / self._period) + 1


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class _Player:
    """Twilio's side of playback: a queue of agent audio played on a real-time clock."""

    def __init__(self, pacer: _Pacer, result: CallResult) -> None:
        self.loop = pacer.loop
        self.pacer = pacer
        self.result = result
        self.play_end = 0.0
        self.frames: deque[tuple[float, bytes]] = deque()
        self.pending_marks: list[tuple[asyncio.TimerHandle, str]] = []
        self.in_reply = False
        self.reply_started_at: float | None = None
        self.last_reply_started = float("-inf")
        self.last_audio_at = 0.0
        self.echo: asyncio.Queue[str] = asyncio.Queue()
        self.watcher: _Poll | None = None
        """The script's wait in progress, told when a reply ends."""

    def media(self, frame: bytes) -> None:
        now = self.loop.time()
        self.last_audio_at = now
        if self.play_end < now:
            if self.in_reply and now - self.play_end > FRAME_SECONDS:
                self.result.gaps_ms.append((now - self.play_end) * 1000)
            self.play_end = now
        if not self.in_reply:
            self.in_reply = True
            self.last_reply_started = now
            self.reply_started_at = self.play_end
        self.frames.append((self.play_end, frame))
        self.play_end += FRAME_SECONDS
        self._settle(now)

    def mark(self, name: str) -> None:
        handle = self.loop.call_at(max(self.play_end, self.loop.time()), self._echo_through, name)
        self.pending_marks.append((handle, name))

    def _echo_through(self, name: str) -> None:
        """Echo every pending mark up to ``name``, in the order they were sent, as Twilio does."""
        while self.pending_marks:
            handle, pending = self.pending_marks.pop(0)
            handle.cancel()
            self._echo(pending)
            if pending == name:
                return

    def _echo(self, name: str) -> None:
        self.echo.put_nowait(name)
        self.result.marks_echoed += 1
        if name.endswith(".end"):
            self.result.replies += 1
            self.in_reply = False
            if self.watcher is not None:
                self.watcher.soon()

    def clear(self) -> None:
        now = self.loop.time()
        self._settle(now)
        self.frames.clear()
        self.play_end = now
        self.in_reply = False
        self.result.clears += 1
        marks, self.pending_marks = self.pending_marks, []
        for handle, name in marks:
            handle.cancel()
            self.echo.put_nowait(name)
            self.result.marks_echoed += 1
        if self.watcher is not None:
            self.watcher.soon()

    def _settle(self, now: float) -> None:
        """Move frames whose playback time has come into what the caller heard."""
        while self.frames and self.frames[0][0] <= now:
            self.result.heard += self.frames.popleft()[1]

    def close(self) -> None:
        self._settle(self.loop.time())
        for handle, _ in self.pending_marks:
            handle.cancel()

    def quiet(self) -> bool:
        return not self.in_reply and self.play_end <= self.loop.time() and self.echo.empty()


class CallerSimulator:
    """Places one simulated call.

    Args:
        server_url: where the server listens, e.g. ``http://127.0.0.1:8080``.
        public_url: the server's PUBLIC_URL (what Twilio signs); defaults to ``server_url``.
        auth_token: the Twilio auth token shared with the server.
        session: an aiohttp session (one per process for many calls).
        quiet_timeout: give up waiting for the agent to finish after this many seconds.
        reply_timeout: seconds to wait for an expected reply (or greeting) to start before
            taking the next step anyway.
    """

    def __init__(self, server_url: str, auth_token: str, session: aiohttp.ClientSession, *,
                 public_url: str | None = None, quiet_timeout: float = 30.0, reply_timeout: float = 3.0) -> None:
        self.server_url = server_url.rstrip("/")
        self.public_url = (public_url or server_url).rstrip("/")
        self.auth_token = auth_token
        self.session = session
        self.quiet_timeout = quiet_timeout
        self.reply_timeout = reply_timeout
        self._pacer: _Pacer | None = None

    def _pacer_here(self) -> _Pacer:
        """One pacer for all of this simulator's calls on the running loop (a new loop gets a new one)."""
        loop = asyncio.get_running_loop()
        if self._pacer is None or self._pacer.loop is not loop:
            self._pacer = _Pacer(loop)
        return self._pacer

    async def call(self, to_number: str, steps: list[Step], *, from_number: str = "+15551230000",
                   call_sid: str | None = None) -> CallResult:
        """Run the call through ``steps``; hang up when they are done and the agent is quiet."""
        call_sid = call_sid or "CA" + secrets.token_hex(16)
        account_sid = "AC" + "0" * 32
        form = {"CallSid": call_sid, "AccountSid": account_sid, "From": from_number, "To": to_number,
                "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}
        headers = {"X-Twilio-Signature": sign(self.auth_token, self.public_url + VOICE_PATH, form)}
        async with self.session.post(self.server_url + VOICE_PATH, data=form, headers=headers) as resp:
            twiml = await resp.text()
            if resp.status != 200:
                raise RuntimeError(f"voice webhook answered {resp.status}: {twiml[:200]}")
        result = CallResult(call_sid=call_sid, twiml=twiml)
        url, params, refusal = parse_twiml(twiml)
        if url is None:
            result.refused_with = refusal
            return result
        await self._stream(url, params, steps, result, account_sid)
        return result

    def _local(self, stream_url: str) -> str:
        """The TwiML's public stream URL, re-pointed at the server we actually reach."""
        public, local = URL(stream_url), URL(self.server_url)
        return str(public.with_scheme("wss" if local.scheme == "https" else "ws")
                   .with_host(local.host or "127.0.0.1").with_port(local.port))

    async def _stream(self, url: str, params: dict[str, str], steps: list[Step], result: CallResult,
                      account_sid: str) -> None:
        headers = {"X-Twilio-Signature": sign(self.auth_token, url, {})}
        stream_sid = "MZ" + secrets.token_hex(16)
        async with self.session.ws_connect(self._local(url), headers=headers, heartbeat=20.0) as ws:
            await ws.send_str(Connected(protocol="Call", version="1.0.0").to_json())
            await ws.send_str(Start(
                sequence_number=1, stream_sid=stream_sid, account_sid=account_sid, call_sid=result.call_sid,
                tracks=("inbound",), custom_parameters=params,
                media_format=MediaFormat("audio/x-mulaw", 8000, 1)).to_json())
            player = _Player(self._pacer_here(), result)
            line = _Line(ws, stream_sid, result, player.pacer)
            tasks = [asyncio.create_task(line.send_loop()), asyncio.create_task(self._receive(ws, player, line)),
                     asyncio.create_task(_echo_marks(ws, stream_sid, player, line))]
            try:
                await self._script(steps, line, player, result, tasks[1])
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                player.close()
                if not ws.closed:
                    with contextlib.suppress(ConnectionError):
                        await ws.send_str(Stop(sequence_number=line.sequence + 1, stream_sid=stream_sid,
                                               account_sid=account_sid, call_sid=result.call_sid).to_json())
                    await ws.close()
                result.close_code = ws.close_code

    async def _receive(self, ws: aiohttp.ClientWebSocketResponse, player: _Player, line: _Line) -> None:
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                break
            payload = _media_payload(msg.data)
            message = parse_outbound(msg.data) if payload is None else None
            if isinstance(message, OutboundMedia):
                payload = message.payload
            if payload is not None:
                if line.awaiting_reply_since is not None:
                    line.result.turn_latencies_ms.append((player.loop.time() - line.awaiting_reply_since) * 1000)
                    line.awaiting_reply_since = None
                player.media(payload)
            elif isinstance(message, OutboundMark):
                player.mark(message.name)
            elif isinstance(message, Clear):
                if line.barge_started_at is not None:
                    line.result.barge_in_latencies_ms.append((player.loop.time() - line.barge_started_at) * 1000)
                    line.barge_started_at = None
                player.clear()
        line.result.hung_up_by_agent = True

    async def _script(self, steps: list[Step], line: _Line, player: _Player, result: CallResult,
                      receiver: asyncio.Task[None]) -> None:
        """Play the steps; before each one the agent's pending reply (the greeting first) must be over."""
        since = float("-inf")
        for step in [*steps, HangUp()] if not steps or not isinstance(steps[-1], HangUp) else steps:
            if receiver.done():
                return
            if isinstance(step, Say) and step.barge_in_after is not None:
                await self._wait_for_agent_audio(player, step.barge_in_after, receiver)
                await _unless_closed(line.say(step.audio, barge_in=True), receiver)
                since = player.loop.time()
                continue
            if isinstance(step, HangUp) and step.after_agent_audio is not None:
                await self._wait_for_agent_audio(player, step.after_agent_audio, receiver)
                return
            await self._wait_quiet(player, receiver, since)
            if receiver.done():
                return
            if isinstance(step, Say):
                await _unless_closed(line.say(step.audio, barge_in=False), receiver)
            elif isinstance(step, Press):
                await line.press(step.digits)
            else:
                return
            since = player.loop.time()

    async def _wait_quiet(self, player: _Player, receiver: asyncio.Task[None], since: float) -> None:
        """Until a reply that started after ``since`` (the caller's last step) has played out.

        A reply that started earlier (say, the greeting resuming after the caller's first
        words) is not the answer to that step. Without any reply in ``reply_timeout``, move on.
        """
        loop = player.loop
        start = loop.time()
        deadline = start + self.quiet_timeout
        with _Poll(player, receiver, start, FRAME_SECONDS) as poll:
            while loop.time() < deadline and not receiver.done():
                now = loop.time()
                answered = player.last_reply_started >= since or now - start > self.reply_timeout
                if answered and player.quiet() and now - max(player.last_audio_at, start) > 0.25:
                    return
                # No poll succeeds while a reply plays (the player calls poll.soon() when it ends), within
                # 0.25 s of agent audio (last_audio_at only grows) or, unanswered, before the timeout or
                # 0.25 s after a reply's first frame, which comes now or later.
                earliest = math.inf if player.in_reply else max(player.last_audio_at, start) + 0.25
                if not answered:
                    earliest = max(earliest, min(now + 0.25, start + self.reply_timeout))
                await poll.next(min(earliest, deadline))

    async def _wait_for_agent_audio(self, player: _Player, seconds: float, receiver: asyncio.Task[None]) -> None:
        """Until the agent's next reply has been playing for ``seconds``."""
        loop = player.loop
        start = loop.time()
        deadline = start + self.quiet_timeout
        with _Poll(player, receiver, start, FRAME_SECONDS / 2) as poll:
            while loop.time() < deadline and not receiver.done():
                now = loop.time()
                started = player.reply_started_at if player.in_reply else None
                if started is not None and now - started >= seconds:
                    return
                # A reply that starts from now on starts now or later, so none is `seconds` old sooner.
                earliest = (min(started, now) if started is not None else now) + seconds
                await poll.next(min(earliest, deadline))


class _Line:
    """The caller's microphone: 20 ms frames at real-time pace, speech when there is some, else silence."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, stream_sid: str, result: CallResult,
                 pacer: _Pacer) -> None:
        self.ws = ws
        self.pacer = pacer
        self.stream_sid = stream_sid
        self.result = result
        self.sequence = 1
        self.chunk = 0
        self.speech: deque[bytes] = deque()
        """The line's 20 ms frames still to send, base64-encoded."""
        self.spoken = asyncio.Event()
        self.awaiting_reply_since: float | None = None
        self.barge_started_at: float | None = None
        self._barge_pending = False

    async def say(self, audio: bytes, *, barge_in: bool) -> None:
        """Queue the line and wait until its last frame has been sent."""
        frames, tail = frames_160(audio)
        if tail:
            frames.append(pad_frame(tail))
        self.spoken.clear()
        self._barge_pending = barge_in
        self.speech.extend(binascii.b2a_base64(frame, newline=False) for frame in frames)
        await self.spoken.wait()

    async def press(self, digits: str) -> None:
        """Send one ``dtmf`` event per digit."""
        for digit in digits:
            self.sequence += 1
            await self.ws.send_str(Dtmf(sequence_number=self.sequence, stream_sid=self.stream_sid,
                                        track="inbound_track", digit=digit).to_json())
        self.awaiting_reply_since = asyncio.get_running_loop().time()

    async def send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        stream = _InboundStream(self.stream_sid)
        t0 = loop.time()
        while True:
            self.chunk += 1
            due = t0 + self.chunk * FRAME_SECONDS
            if due > loop.time():
                await self.pacer.until(due)
            if self.speech:
                frame = self.speech.popleft()
                if self._barge_pending:
                    self._barge_pending = False
                    self.barge_started_at = loop.time()
                if not self.speech:
                    self.awaiting_reply_since = loop.time()
                    self.spoken.set()
            else:
                frame = _SILENCE_B64
            self.sequence += 1
            await self.ws.send_frame(stream.media(self.sequence, self.chunk, (self.chunk - 1) * 20, frame),
                                     aiohttp.WSMsgType.TEXT)


class _InboundStream:
    """Twilio's ``media`` frames for one stream, preformatted around the ``streamSid``.

    One per 20 ms per call: a bytes %-format gives exactly ``Media(...).to_json()``'s UTF-8
    (orjson's output, Twilio's key order, counters as decimal strings) without building a
    dict and dumping it per frame, and goes out with ``send_frame`` rather than ``send_str``'s
    str-to-bytes encode. In a 100-call bench profile the send loop was 30% of the load
    generator's CPU, its timers and that per-frame dict and dump most of it.
    """

    __slots__ = ("_media",)

    def __init__(self, stream_sid: str) -> None:
        sid = orjson.dumps(stream_sid).replace(b"%", b"%%")
        self._media = (b'{"event":"media","sequenceNumber":"%d","streamSid":' + sid
                       + b',"media":{"track":"inbound","chunk":"%d","timestamp":"%d","payload":"%s"}}')

    def media(self, sequence: int, chunk: int, timestamp: int, payload_b64: bytes) -> bytes:
        """The ``media`` frame for one chunk whose mu-law is already base64-encoded."""
        return self._media % (sequence, chunk, timestamp, payload_b64)


def _media_payload(raw: str) -> bytes | None:
    """The audio of a well-formed outbound ``media`` frame, else None (then ``parse_outbound`` decides).

    Agent audio arrives at 50 frames/s per call; ``parse_outbound``'s checked field paths were
    most of the caller's receive cost in bench runs. This accepts exactly the ``media`` frames
    it accepts (an object, string ``streamSid``, string strict-base64 ``media.payload``) with
    plain lookups, and leaves every other frame, and every error message, to it.
    """
    try:
        obj = orjson.loads(raw)
        if obj["event"] != "media" or type(obj["streamSid"]) is not str:
            return None
        payload = obj["media"]["payload"]
        return binascii.a2b_base64(payload, strict_mode=True) if type(payload) is str else None
    except (ValueError, KeyError, TypeError):
        return None


async def _unless_closed(action: Coroutine[Any, Any, None], receiver: asyncio.Task[None]) -> None:
    """Run ``action`` unless the server hangs up first (the receiver ends with the socket)."""
    task = asyncio.ensure_future(action)
    await asyncio.wait([task, receiver], return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _echo_marks(ws: aiohttp.ClientWebSocketResponse, stream_sid: str, player: _Player, line: _Line) -> None:
    while True:
        name = await player.echo.get()
        line.sequence += 1
        await ws.send_str(Mark(sequence_number=line.sequence, stream_sid=stream_sid, name=name).to_json())

