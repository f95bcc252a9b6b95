"""A light Twilio caller for the bench: every call's Media Stream driven from one shared 20 ms ticker.

Twilio-exact on the wire, like ``media.caller_simulator`` (signed voice webhook, the TwiML
parsed, a signed Media Streams socket with ``connected``/``start``/``media``/``mark``/
``stop``, marks echoed when playback reaches them, ``clear`` honoured), but built so that
the load side of a 200-call bench fits in a fraction of one core:

- one ticker for all calls: each call's next frame every 20 ms (the calls spread over a few
  phases, as independent streams are), and its script taken a step further, so there is no
  per-frame task, timer or future per call;
- each call's ``media`` message is a bytes template around its ``streamSid``; per frame only
  the sequence number, chunk, timestamp and an already-encoded payload change (the line's
  frames are base64-encoded once for all calls, silence once for the process), and the frame
  is written synchronously (no JSON encode, no fresh base64, no coroutine per frame);
- received ``media`` is recognised by its prefix and timed on arrival; its content is
  parsed in full (``parse_outbound``, strict base64) and checked for silence on a sample:
  the first frame of each reply and one in ``SAMPLE_EVERY`` after it. Every other message
  is parsed in full.

A reply ends with a mark whose name ends in ``.end`` (the agent server's), or, from a relay
that sends no such marks, once playback has drained with no pending mark for ``REPLY_QUIET``.

The first line waits for the greeting, as a person who calls a business does: for a reply
that starts after the stream did, or for ``reply_timeout`` (then they speak into the
silence). Quiet alone is not enough: on a loaded machine the greeting's first frame can come
later than ``REPLY_QUIET`` after ``start`` (its TTS request, a busy event loop), and a caller
that took that silence for the end of the greeting spoke over it. The server rightly took
the words as a barge-in (``clear``, greeting cut, the question answered), but the call then
heard one whole reply where its script expected two: the soak's ``1 replies`` under load.
Each call's ``story`` (a few steps, never per frame) is what the soak prints for a failed call.
"""

from __future__ import annotations

import asyncio
import binascii
import contextlib
import math
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

import aiohttp
import orjson
from yarl import URL

from light_ticker import FRAME, Ticker  # bench/light_ticker.py (bench/ is on sys.path wherever this is)
from media.audio.g711 import SILENCE_FRAME, frames_160, pad_frame
from media.caller_simulator import parse_twiml, sign
from media.protocol.twilio import (
    Clear,
    Connected,
    Mark,
    MediaFormat,
    OutboundMark,
    OutboundMedia,
    Start,
    Stop,
    parse_outbound,
)

SAMPLE_EVERY: Final = 25
"""One received media frame in this many (after each reply's first) is parsed in full and checked for silence."""
REPLY_QUIET: Final = 0.25
"""Seconds without agent audio after playback drained that end a wait for quiet (as the simulator's)."""
_SILENCE_B64: Final = binascii.b2a_base64(SILENCE_FRAME, newline=False)
_ZERO_MASK: Final = b"\x00\x00\x00\x00"


def _text_frames(ws: aiohttp.ClientWebSocketResponse) -> Callable[[bytes], None]:
    """A synchronous writer of whole TEXT frames (under 64 KiB) onto ``ws``'s transport, masked with an all-zero key.

    The per-frame write of every call (50 a second each, 10,000 a second at 200 calls). A
    client must mask its frames; aiohttp's writer draws a random key and XORs a copy of the
    payload with it, about 2 µs a frame that is the generator's own CPU, not the server's.
    The server unmasks every frame with whatever key it carries (aiohttp's reader does not
    skip a zero key), so its work per frame is what Twilio's frames cost it; only the key's
    unpredictability, which shields proxies from browsers' scripts, is given up on loopback.
    A closing transport raises ``ConnectionResetError``, as aiohttp's writer would.
    """
    transport = ws._writer.transport

    def write(data: bytes) -> None:
        if transport.is_closing():
            raise ConnectionResetError("Cannot write to closing transport")
        size = len(data)
        length = bytes((0x80 | size,)) if size < 126 else b"\xfe" + size.to_bytes(2, "big")
        transport.write(b"\x81" + length + _ZERO_MASK + data)

    return write


@dataclass(frozen=True, slots=True)
class Line:
    """What the caller says: 20 ms frames, base64-encoded once; ``barge_in_after`` as in the simulator's ``Say``."""

    frames: tuple[bytes, ...]
    barge_in_after: float | None = None

    @classmethod
    def of(cls, audio: bytes, barge_in_after: float | None = None) -> Line:
        frames, tail = frames_160(audio)
        if tail:
            frames.append(pad_frame(tail))
        return cls(tuple(binascii.b2a_base64(f, newline=False) for f in frames), barge_in_after)


@dataclass(slots=True)
class LightCallResult:
    """What the caller experienced; the bench reads the same fields as from the simulator's ``CallResult``."""

    call_sid: str
    refused_with: str | None = None
    hung_up_by_agent: bool = False
    replies: int = 0
    clears: int = 0
    marks_echoed: int = 0
    turn_latencies_ms: list[float] = field(default_factory=list)
    barge_in_latencies_ms: list[float] = field(default_factory=list)
    gaps_ms: list[float] = field(default_factory=list)
    audio_sampled: int = 0
    audio_silent: int = 0
    """Sampled agent frames that were pure silence (a reply that plays nothing would show here)."""
    stream_span: tuple[float, float] | None = None
    """Wall-clock start and end of the media stream, for concurrency when the server keeps no records."""
    story: list[tuple[float, str]] = field(default_factory=list)
    """What happened on the call, by loop time: replies started and over, marks, what the caller said, hang-up."""


class _Call:
    """One call's stream: the microphone, the playback clock and the script, all advanced by the ticker."""

    def __init__(self, caller: LightCaller, ws: aiohttp.ClientWebSocketResponse, stream_sid: str,
                 lines: list[Line], result: LightCallResult) -> None:
        self.caller, self.ws, self.stream_sid, self.result = caller, ws, stream_sid, result
        self.loop = caller.ticker.loop
        self._write = _text_frames(ws)
        sid = orjson.dumps(stream_sid).replace(b"%", b"%%")
        self._template = (b'{"event":"media","sequenceNumber":"%d","streamSid":' + sid
                       + b',"media":{"track":"inbound","chunk":"%d","timestamp":"%d","payload":"%s"}}')
        self._media_prefix = '{"event":"media","streamSid":' + orjson.dumps(stream_sid).decode() + ","
        self.sequence = 1
        self.chunk = 0
        self.lines = deque(lines)
        self.speech: deque[bytes] = deque()
        self.barge_pending = False
        self.awaiting_reply_since: float | None = None
        self.barge_started_at: float | None = None
        # playback
        self.play_end = 0.0
        self.in_reply = False
        self.reply_started_at: float | None = None
        self.last_reply_started = -math.inf
        self.last_audio_at = 0.0
        self.frames_in_reply = 0
        self.marks: deque[tuple[float, str]] = deque()
        self.end_marks = False
        # script: waiting for quiet (since: the first line waits for the greeting, a reply that
        # starts after the stream did) or for reply audio (barge), or speaking
        self.wait_started = self.since = self.loop.time()
        self.speaking = False
        self.done = False
        self._tell(self.wait_started, "stream starts")

    def _tell(self, now: float, what: str) -> None:
        """A step of the call's story (a few per call: never per frame)."""
        self.result.story.append((now, what))

    # -- the ticker's work, per call per 20 ms
    def tick(self, now: float) -> None:
        if self.ws.closed:
            return
        try:
            self._send_frame(now)
            while self.marks and self.marks[0][0] <= now:
                self._echo(self.marks.popleft()[1])
        except ConnectionError:
            self._finish()
            return
        if self.in_reply and not self.end_marks and not self.marks and now - max(self.play_end, self.last_audio_at) \
                >= REPLY_QUIET:
            self._reply_over("quiet")
        if not self.speaking:
            self._advance(now)

    def _send_frame(self, now: float) -> None:
        self.chunk += 1
        self.sequence += 1
        if self.speech:
            payload = self.speech.popleft()
            if self.barge_pending:
                self.barge_pending = False
                self.barge_started_at = now
            if not self.speech:
                self._tell(now, "said its line")
                self.awaiting_reply_since = now
                self.speaking = False
                self.since = self.wait_started = now
        else:
            payload = _SILENCE_B64
        self._write(self._template % (self.sequence, self.chunk, (self.chunk - 1) * 20, payload))

    def _advance(self, now: float) -> None:
        """Take the script's next step once its wait is over (the simulator's rules, polled every tick)."""
        timed_out = now - self.wait_started > self.caller.quiet_timeout
        line = self.lines[0] if self.lines else None
        if line is not None and line.barge_in_after is not None:
            started = self.reply_started_at if self.in_reply else None
            if not timed_out and (started is None or now - started < line.barge_in_after):
                return
        elif not timed_out:
            answered = self.last_reply_started >= self.since or now - self.wait_started > self.caller.reply_timeout
            quiet = not self.in_reply and self.play_end <= now and not self.marks
            if not (answered and quiet and now - max(self.last_audio_at, self.wait_started) > REPLY_QUIET):
                return
        if line is None:
            self._tell(now, "hangs up" + (" (timed out)" if timed_out else ""))
            self._finish()
            return
        self._tell(now, "speaks" + (" (timed out)" if timed_out else ""))
        self.lines.popleft()
        self.speech.extend(line.frames)
        self.barge_pending = line.barge_in_after is not None
        self.speaking = True

    def _finish(self) -> None:
        if not self.done:
            self.done = True
            self.caller.ticker.remove(self)
            hang_up = asyncio.ensure_future(self.caller._hang_up(self))
            self.caller._hang_ups.add(hang_up)
            hang_up.add_done_callback(self.caller._hang_ups.discard)

    # -- what the server sends
    def received(self, data: str) -> None:
        now = self.loop.time()
        if data.startswith(self._media_prefix):
            self._media(now, data)
            return
        message = parse_outbound(data)
        if message.stream_sid != self.stream_sid:
            raise ValueError(f"message for stream {message.stream_sid!r} on {self.stream_sid!r}")
        if isinstance(message, OutboundMark):
            self.marks.append((max(self.play_end, now), message.name))
        elif isinstance(message, Clear):
            self._clear(now)
        else:
            self._media(now, data)

    def _media(self, now: float, data: str) -> None:
        result = self.result
        if self.awaiting_reply_since is not None:
            result.turn_latencies_ms.append((now - self.awaiting_reply_since) * 1000)
            self.awaiting_reply_since = None
        self.last_audio_at = now
        if self.play_end < now:
            if self.in_reply and now - self.play_end > FRAME:
                result.gaps_ms.append((now - self.play_end) * 1000)
            self.play_end = now
        if not self.in_reply:
            self._tell(now, "reply starts")
            self.in_reply = True
            self.last_reply_started = now
            self.reply_started_at = self.play_end
            self.frames_in_reply = 0
        if self.frames_in_reply % SAMPLE_EVERY == 0:
            self._sample(data)
        self.frames_in_reply += 1
        self.play_end += FRAME

    def _sample(self, data: str) -> None:
        message = parse_outbound(data)  # the full check: event, streamSid, strict base64
        self.result.audio_sampled += 1
        if message.stream_sid != self.stream_sid:
            raise ValueError(f"media for stream {message.stream_sid!r} on {self.stream_sid!r}")
        payload = message.payload if isinstance(message, OutboundMedia) else b""
        if payload.count(payload[:1]) == len(payload):
            self.result.audio_silent += 1

    def _clear(self, now: float) -> None:
        if self.barge_started_at is not None:
            self.result.barge_in_latencies_ms.append((now - self.barge_started_at) * 1000)
            self.barge_started_at = None
        self.result.clears += 1
        self._tell(now, "clear")
        self.play_end = now
        self.in_reply = False
        marks, self.marks = self.marks, deque()
        for _, name in marks:
            self._echo(name)

    def _echo(self, name: str) -> None:
        self.sequence += 1
        self._write(Mark(self.sequence, self.stream_sid, name).to_json().encode())
        self.result.marks_echoed += 1
        if name.endswith(".end"):
            self.end_marks = True
            self._reply_over(f"mark {name} echoed")

    def _reply_over(self, how: str) -> None:
        if self.in_reply:
            self.in_reply = False
            self.result.replies += 1
            self._tell(self.loop.time(), f"reply {self.result.replies} over ({how})")


class LightCaller:
    """Places bench calls; one per process (its ticker serves every call on the running loop).

    Args:
        server_url: where the server listens.
        auth_token: the Twilio auth token shared with the server.
        session: the aiohttp session for every call.
        voice_path: the voice webhook's path (the agent server's, or a relay's).
        public_url: what Twilio signs (the server's PUBLIC_URL); defaults to ``server_url``.
        quiet_timeout: the longest wait for any step.
        reply_timeout: seconds to wait for a reply to start before taking the next step anyway.
    """

    def __init__(self, server_url: str, auth_token: str, session: aiohttp.ClientSession, *, voice_path: str,
                 public_url: str | None = None, quiet_timeout: float = 30.0, reply_timeout: float = 5.0) -> None:
        self.server_url = server_url.rstrip("/")
        self.public_url = (public_url or server_url).rstrip("/")
        self.auth_token, self.session, self.voice_path = auth_token, session, voice_path
        self.quiet_timeout, self.reply_timeout = quiet_timeout, reply_timeout
        self.ticker = Ticker(asyncio.get_running_loop())
        self._hang_ups: set[asyncio.Future[None]] = set()

    async def call(self, to_number: str, lines: list[Line], *, from_number: str) -> LightCallResult:
        """Say ``lines`` (each once the agent is quiet, or into its reply for a barge-in), then hang up."""
        call_sid, account_sid = "CA" + secrets.token_hex(16), "AC" + "0" * 32
        form = {"CallSid": call_sid, "AccountSid": account_sid, "From": from_number, "To": to_number,
                "CallStatus": "ringing", "Direction": "inbound", "ApiVersion": "2010-04-01"}
        headers = {"X-Twilio-Signature": sign(self.auth_token, self.public_url + self.voice_path, form)}
        async with self.session.post(self.server_url + self.voice_path, data=form, headers=headers) as resp:
            twiml = await resp.text()
            if resp.status != 200:
                raise RuntimeError(f"voice webhook answered {resp.status}: {twiml[:200]}")
        result = LightCallResult(call_sid)
        url, params, refusal = parse_twiml(twiml)
        if url is None:
            result.refused_with = refusal
            return result
        await self._stream(url, params, lines, result, account_sid)
        return result

    async def _stream(self, url: str, params: dict[str, str], lines: list[Line], result: LightCallResult,
                      account_sid: str) -> None:
        headers = {"X-Twilio-Signature": sign(self.auth_token, url, {})}
        stream_sid = "MZ" + secrets.token_hex(16)
        public, local = URL(url), URL(self.server_url)
        target = str(public.with_scheme("ws").with_host(local.host or "127.0.0.1").with_port(local.port))
        async with self.session.ws_connect(target, headers=headers, autoping=True) as ws:
            started = time.time()
            await ws.send_str(Connected(protocol="Call", version="1.0.0").to_json())
            await ws.send_str(Start(sequence_number=1, stream_sid=stream_sid, account_sid=account_sid,
                                    call_sid=result.call_sid, tracks=("inbound",), custom_parameters=params,
                                    media_format=MediaFormat("audio/x-mulaw", 8000, 1)).to_json())
            call = _Call(self, ws, stream_sid, lines, result)
            self.ticker.add(call)
            try:
                async for msg in ws:
                    if msg.type is not aiohttp.WSMsgType.TEXT:
                        break
                    call.received(msg.data)
                result.hung_up_by_agent = not call.done
            finally:
                self.ticker.remove(call)
                call.done = True
                result.stream_span = (started, time.time())

    async def _hang_up(self, call: _Call) -> None:
        """Twilio's ``stop``, then the close handshake (the receive loop ends with it)."""
        with contextlib.suppress(ConnectionError):
            call.sequence += 1
            await call.ws.send_str(Stop(sequence_number=call.sequence, stream_sid=call.stream_sid,
                                        account_sid="AC" + "0" * 32, call_sid=call.result.call_sid).to_json())
            await call.ws.close()
