"""Server-side WebSocket text frames, coalesced into one transport write per burst.

A reply's audio reaches us from TTS in chunks of a second or more, and Twilio wants it as
160-byte ``media`` messages: one chunk is 50-100 WebSocket frames. Sent one by one, each
frame is one ``send()`` system call (uvloop writes at once rather than per loop iteration);
measured, the burst of one sentence then held the event loop for ~1.5 ms at 100 calls, and
every other call's next frame waited behind it. The outbox frames the messages itself (the
server side of RFC 6455 is a 2- or 4-byte header, no masking) and writes a burst with one
``transport.write``: about a quarter of the cost, and one system call per burst.

It shares the connection with aiohttp's own writer, which still sends pings, pongs and the
close frame. That is safe because both write whole frames from the one event-loop thread,
and the socket is opened without permessage-deflate (frames here are never compressed).

Bounded: a peer that stops reading shows as the transport's write buffer growing; past
``max_buffer`` bytes the outbox refuses further frames with :class:`ConnectionError`,
so a dead caller ends the call instead of queueing its audio without limit.
"""

from __future__ import annotations

import asyncio
from typing import Final, Protocol

_OPCODE_TEXT: Final = 0x81
"""FIN + text opcode: every message here is a single, final frame."""
_OPCODE_BINARY: Final = 0x82
"""FIN + binary opcode: a browser's audio frame, when its stream asked for binary frames."""


def text_frame_header(length: int, opcode: int = _OPCODE_TEXT) -> bytes:
    """The RFC 6455 header of an unmasked, final text (or ``opcode``) frame carrying ``length`` payload bytes."""
    if length < 0:
        raise ValueError("frame length cannot be negative")
    if length < 126:
        return bytes((opcode, length))
    if length < 1 << 16:
        return bytes((opcode, 126)) + length.to_bytes(2, "big")
    return bytes((opcode, 127)) + length.to_bytes(8, "big")


class ServerSocket(Protocol):
    """The accepted socket as the outbox needs it (``aiohttp.web.WebSocketResponse`` fits)."""

    @property
    def closed(self) -> bool: ...

    async def close(self) -> bool: ...


class WebSocketOutbox:
    """Text frames for one accepted WebSocket, written together at :meth:`flush`.

    Args:
        ws: the socket; once it is closing (its close frame may be on the wire) nothing more is written.
        transport: the connection's transport (``request.transport`` after ``prepare``).
        max_buffer: bytes the peer may leave unread before sends fail.
    """

    __slots__ = ("_ws", "_transport", "_max_buffer", "_parts", "_loop", "_flush_scheduled")

    def __init__(self, ws: ServerSocket, transport: asyncio.Transport, *, max_buffer: int = 1 << 20) -> None:
        self._ws = ws
        self._transport = transport
        self._max_buffer = max_buffer
        self._parts: list[bytes] = []
        self._loop = asyncio.get_running_loop()
        self._flush_scheduled = False

    def send(self, payload: bytes, *, binary: bool = False) -> None:
        """Queue one UTF-8 text message (or a binary one); it goes out at the next :meth:`flush` (at the latest, next
        loop turn).

        Raises:
            ConnectionError: the socket is closing, or the peer has stopped reading.
        """
        transport = self._transport
        if self._ws.closed or transport.is_closing():
            raise ConnectionError("websocket is closing")
        if transport.get_write_buffer_size() > self._max_buffer:
            raise ConnectionError("websocket peer is not reading")
        self._parts.append(text_frame_header(len(payload), _OPCODE_BINARY if binary else _OPCODE_TEXT))
        self._parts.append(payload)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write every queued frame now, in one write; a closed transport drops them silently."""
        self._flush_scheduled = False
        if not self._parts:
            return
        data = b"".join(self._parts)
        self._parts.clear()
        if not self._ws.closed and not self._transport.is_closing():
            self._transport.write(data)

    async def close(self) -> bool:
        """Write what is queued, then close the socket (aiohttp sends the close frame)."""
        self.flush()
        return await self._ws.close()
