"""What a call puts on the Twilio socket: media frames, marks and clears, encoded once and queued.

A send that finds the socket gone becomes the end request the session gave :class:`Outbound`,
so nothing that speaks to the caller has to handle a lost socket itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Protocol

from media.pipeline.playout import Send
from media.protocol.twilio import OutboundStream
from media.recording.call_recording import CallRecording


class TwilioLink(Protocol):
    """The media-stream socket as the session sees it: buffered sends, an explicit flush.

    ``send`` only queues (and raises ConnectionError once the socket is gone); ``flush``
    writes everything queued in one go. The session flushes where timing matters (a TTS
    chunk's frames, a mark, a ``clear``), so a burst of frames is one write.
    """

    def send(self, data: bytes, *, binary: bool = False) -> None: ...

    def flush(self) -> None: ...

    async def close(self) -> bool: ...


class Outbound:
    """One call's outbound stream: Twilio messages encoded for its ``streamSid`` and queued on its link.

    Args:
        link: the media socket.
        stream_sid: the ``streamSid`` from ``start``.
        on_lost: called on every send that finds the socket gone (the session ends the call).
        recording: gets every frame and ``clear`` as it is sent (None: the call isn't recorded).
        encode: converts each μ-law frame to the stream's format at the edge (a browser's L16).
        binary: each frame goes out as a binary message of its audio alone, not a ``media`` message
            (a browser that asked for binary frames).
    """

    __slots__ = ("_link", "_stream", "_on_lost", "_recording", "_encode", "_binary")

    def __init__(self, link: TwilioLink, stream_sid: str, on_lost: Callable[[], None],
                 recording: CallRecording | None = None, encode: Callable[[bytes], bytes] | None = None,
                 binary: bool = False) -> None:
        self._link = link
        self._stream = OutboundStream(stream_sid, encode)
        self._on_lost = on_lost
        self._recording = recording
        self._encode = encode
        self._binary = binary

    def media(self, frame: bytes) -> None:
        """Queue one 20 ms frame of the agent's audio."""
        if self._recording is not None:
            self._recording.agent(frame)
        if self._binary:
            self._send(frame if self._encode is None else self._encode(frame), binary=True)
        else:
            self._send(self._stream.media_bytes(frame))

    def mark(self, name: str) -> None:
        """Queue a mark: Twilio echoes it when playback gets there (or a ``clear`` drops it)."""
        self._send(self._stream.mark(name).encode())

    def clear(self) -> None:
        """Queue a ``clear``: Twilio drops the audio it buffered and echoes the pending marks."""
        if self._recording is not None:
            self._recording.clear()
        self._send(self._stream.clear().encode())

    def flush(self) -> None:
        """Write everything queued."""
        self._link.flush()

    def burst(self, sends: list[Send]) -> None:
        """Re-send kept audio (a resume, a cut) as one write."""
        for send in sends:
            if send.frame is not None:
                self.media(send.frame)
            if send.mark is not None:
                self.mark(send.mark)
        self._link.flush()

    async def close(self) -> None:
        """Close the socket; one already gone is fine."""
        with contextlib.suppress(ConnectionError):
            await self._link.close()

    def _send(self, message: bytes, *, binary: bool = False) -> None:
        try:
            self._link.send(message, binary=binary)
        except ConnectionError:
            self._on_lost()
