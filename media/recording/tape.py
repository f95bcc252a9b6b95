"""Both sides of a call on one timeline, as the caller heard them: caller on the left, agent on the right.

Times are milliseconds since the recording started, on the server's clock. The caller's frames
carry Twilio's stream timestamps, which are exact relative to each other but start anywhere:
the first one is pinned to its arrival time and the rest follow it by timestamp, so network
jitter doesn't smear the caller's track. The agent's audio is sent ahead of playback (Twilio
buffers it and plays it in real time), so a frame sent at ``now`` plays at ``now`` or right
after the frame before it, whichever is later, and a ``clear`` at ``now`` drops everything
still scheduled after it: that is what the caller heard. A sample is final once the clock has
passed it (a later ``clear`` can no longer cut it), and only final samples are taken.

Pure: μ-law bytes in, μ-law bytes out; decoding and writing happen elsewhere, off the loop.
"""

from __future__ import annotations

from typing import Final

SAMPLE_RATE: Final = 8000
SAMPLES_PER_MS: Final = SAMPLE_RATE // 1000
MULAW_SILENCE: Final = 0xFF
"""μ-law's zero: what a side with no audio at that moment records."""


class StereoTape:
    """Two μ-law tracks on one clock, released from the front once final."""

    __slots__ = ("_caller_origin", "_caller", "_agent", "_base", "_agent_end")

    def __init__(self) -> None:
        self._caller_origin: int | None = None
        """Sample position of stream timestamp 0 (set by the first caller frame)."""
        self._caller = bytearray()
        self._agent = bytearray()
        self._base = 0
        """Absolute sample position of index 0 of both tracks: everything before was taken."""
        self._agent_end = 0
        """Absolute sample position where the agent's next frame plays, at the earliest."""

    @property
    def taken(self) -> int:
        """Samples already taken (the recording's length so far)."""
        return self._base

    def caller(self, frame: bytes, timestamp_ms: int, now_ms: int) -> None:
        """One inbound frame with its stream timestamp, arriving at ``now_ms``."""
        if self._caller_origin is None:
            self._caller_origin = now_ms * SAMPLES_PER_MS - timestamp_ms * SAMPLES_PER_MS
        _place(self._caller, self._caller_origin + timestamp_ms * SAMPLES_PER_MS - self._base, frame)

    def agent(self, frame: bytes, now_ms: int) -> None:
        """One outbound frame sent at ``now_ms``: it plays after the ones already queued."""
        start = max(now_ms * SAMPLES_PER_MS, self._agent_end, self._base)
        _place(self._agent, start - self._base, frame)
        self._agent_end = start + len(frame)

    def clear(self, now_ms: int) -> None:
        """The agent's queued audio was dropped at ``now_ms``: what was to play after it never did."""
        now = max(now_ms * SAMPLES_PER_MS, self._base)
        if self._agent_end > now:
            del self._agent[now - self._base:]
            self._agent_end = now

    def final(self, now_ms: int) -> int:
        """Samples that are final and not taken yet."""
        return max(0, now_ms * SAMPLES_PER_MS - self._base)

    def take(self, now_ms: int) -> tuple[bytes, bytes]:
        """The final samples of both tracks, equally long, silence where a side had none."""
        count = self.final(now_ms)
        out = (_front(self._caller, count), _front(self._agent, count))
        self._base += count
        return out


def _place(track: bytearray, index: int, frame: bytes) -> None:
    """Write ``frame`` at ``index``, padding with silence; the part before the track's start is late and dropped."""
    if index < 0:
        frame = frame[-index:]
        index = 0
    if len(track) < index:
        track.extend(bytes((MULAW_SILENCE,)) * (index - len(track)))
    track[index:index + len(frame)] = frame


def _front(track: bytearray, count: int) -> bytes:
    """Remove and return the first ``count`` samples, padded with silence."""
    head = bytes(track[:count])
    del track[:count]
    if len(head) < count:
        head += bytes((MULAW_SILENCE,)) * (count - len(head))
    return head
