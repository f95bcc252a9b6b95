"""The caller's audio on its way to STT, and the media clock that latencies and the watchdog read.

Frames arrive every 20 ms per call; :meth:`CallerAudio.push` is the whole per-frame hot path
(no allocation, logging or I/O). Until the STT session is open, frames are kept (up to 5 s)
and replayed into it, because the STT clock starts at its first frame.
"""

from __future__ import annotations

from typing import Final

from media.stt.base import SttSession

_EARLY_AUDIO_FRAMES: Final = 250
"""Caller audio kept while the STT session opens (5 s): the STT clock starts at its first frame."""


class CallerAudio:
    """Inbound audio of one call."""

    __slots__ = ("_stt", "_early", "_frames", "_frames_at_check", "_first_media_ms", "media_ms")

    def __init__(self) -> None:
        self._stt: SttSession | None = None
        self._early: list[bytes] = []
        self._frames = 0
        self._frames_at_check = -1
        self._first_media_ms: int | None = None
        self.media_ms = 0
        """The stream timestamp of the latest frame: "now" on the caller's clock."""

    def push(self, payload: bytes, timestamp_ms: int) -> None:
        """One inbound frame: to STT, or kept until STT is open."""
        self._frames += 1
        self.media_ms = timestamp_ms
        if self._stt is not None:
            self._stt.send_audio(payload)
            return
        if self._first_media_ms is None:
            self._first_media_ms = timestamp_ms
        if len(self._early) < _EARLY_AUDIO_FRAMES:
            self._early.append(payload)

    def attach(self, stt: SttSession) -> None:
        """STT is open: replay the kept frames into it; later frames go straight there."""
        self._stt = stt
        for payload in self._early:
            stt.send_audio(payload)
        self._early = []

    def speech_end_ms(self, speech_end_s: float) -> int:
        """An STT time (seconds from its first frame) on the stream's clock."""
        return (self._first_media_ms or 0) + round(speech_end_s * 1000)

    def checkpoint(self) -> None:
        """Remember the frame count, for :meth:`silent_since_checkpoint`."""
        self._frames_at_check = self._frames

    def silent_since_checkpoint(self) -> bool:
        """No frame arrived since the last checkpoint (the media watchdog's question)."""
        return self._frames == self._frames_at_check

    async def close(self) -> None:
        """Close the STT session, if one was opened."""
        if self._stt is not None:
            await self._stt.close()
