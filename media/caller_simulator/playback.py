"""Twilio's side of playback: the agent's frames played on a simulated clock, marks echoed as playback reaches them.

Replies are recognised by the server's mark names: a mark ending in ``.end`` closes one.
"""

from __future__ import annotations

import asyncio
import binascii
import time
from collections import deque

import aiohttp
import orjson

from media.caller_simulator.line import Line
from media.caller_simulator.pacing import FRAME_SECONDS, Pacer, Poll
from media.caller_simulator.result import CallResult
from media.protocol.twilio import Clear, Mark, OutboundMark, OutboundMedia, parse_outbound


class Player:
    """Twilio's side of playback: a queue of agent audio played on a real-time clock."""

    def __init__(self, pacer: Pacer, result: CallResult) -> None:
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
        self.watcher: Poll | None = None
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
        if self.result.arrivals is not None:
            self.result.arrivals.append((time.monotonic(), frame))
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


async def receive(ws: aiohttp.ClientWebSocketResponse, player: Player, line: Line) -> None:
    """Play what the agent sends until it hangs up, timing each reply and each ``clear`` against the line."""
    wire = line.wire
    async for msg in ws:
        message = None
        if wire is not None and msg.type is aiohttp.WSMsgType.BINARY:
            payload: bytes | None = msg.data
        elif msg.type is not aiohttp.WSMsgType.TEXT:
            break
        else:
            payload = media_payload(msg.data)
            message = parse_outbound(msg.data) if payload is None else None
            if isinstance(message, OutboundMedia):
                payload = message.payload
        if payload is not None:
            if wire is not None:
                payload = wire.decode(payload)
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


async def echo_marks(ws: aiohttp.ClientWebSocketResponse, stream_sid: str, player: Player, line: Line) -> None:
    """Send back each mark the player echoes, numbered in the line's sequence."""
    while True:
        name = await player.echo.get()
        line.sequence += 1
        await ws.send_str(Mark(sequence_number=line.sequence, stream_sid=stream_sid, name=name).to_json())


def media_payload(raw: str) -> bytes | None:
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
