"""The caller's microphone: its audio sent as Twilio's ``media`` frames at real-time pace, silence between lines."""

from __future__ import annotations

import asyncio
import binascii
import time
from collections import deque

import aiohttp
import orjson

from media.audio.g711 import SILENCE_FRAME, frames_160, pad_frame
from media.caller_simulator.pacing import FRAME_SECONDS, Pacer
from media.caller_simulator.result import CallResult
from media.caller_simulator.web_wire import WebWire
from media.protocol.twilio import Dtmf

class Line:
    """The caller's microphone: 20 ms frames at real-time pace, speech when there is some, else silence."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, stream_sid: str, result: CallResult,
                 pacer: Pacer, wire: WebWire | None = None) -> None:
        self.ws = ws
        self.wire = wire
        """A browser's call: its audio format and framing (None: Twilio's μ-law ``media`` messages)."""
        self.pacer = pacer
        self.stream_sid = stream_sid
        self.result = result
        self.sequence = 1
        self.chunk = 0
        self.speech: deque[bytes] = deque()
        """The line's 20 ms frames still to send, as they go out (base64-encoded for a ``media`` message)."""
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
        self.speech.extend(self._encoded(frame) for frame in frames)
        await self.spoken.wait()

    def _encoded(self, frame: bytes) -> bytes:
        return binascii.b2a_base64(frame, newline=False) if self.wire is None else self.wire.encode(frame)

    async def press(self, digits: str) -> None:
        """Send one ``dtmf`` event per digit."""
        for digit in digits:
            self.sequence += 1
            await self.ws.send_str(Dtmf(sequence_number=self.sequence, stream_sid=self.stream_sid,
                                        track="inbound_track", digit=digit).to_json())
        self.awaiting_reply_since = asyncio.get_running_loop().time()

    async def send_loop(self) -> None:
        loop = asyncio.get_running_loop()
        stream = InboundStream(self.stream_sid)
        silence = self._encoded(SILENCE_FRAME)
        binary = self.wire is not None and self.wire.binary
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
                    self.result.lines_ended_at.append(time.monotonic())
                    self.spoken.set()
            else:
                frame = silence
            if binary:
                await self.ws.send_bytes(frame)
                continue
            self.sequence += 1
            await self.ws.send_frame(stream.media(self.sequence, self.chunk, (self.chunk - 1) * 20, frame),
                                     aiohttp.WSMsgType.TEXT)


class InboundStream:
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
