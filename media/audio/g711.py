"""G.711 mu-law coding (bit-identical to CPython's ``audioop``) and 20 ms telephone framing.

``audioop`` is deprecated in 3.11 and gone in 3.13, so the codec is reimplemented with numpy.
Both directions are table lookups built once at import: a 65536-entry encode table indexed
by the 16-bit sample and a 256-entry decode table indexed by the code, which keeps the
per-frame cost to a few microseconds on the 20 ms hot path.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

SAMPLE_RATE: Final = 8000
FRAME_BYTES: Final = 160
"""One 20 ms frame of 8 kHz mu-law: the unit Twilio sends and expects."""
SILENCE_BYTE: Final = 0xFF
"""mu-law code for 0. Padding with 0x00 would be the loudest negative sample: a click."""
SILENCE_FRAME: Final = b"\xff" * FRAME_BYTES

_SEG_END: Final = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF], dtype=np.int32)


def _encode_formula(pcm: NDArray[np.int16]) -> NDArray[np.uint8]:
    """Encode with audioop's 14-bit algorithm (shift by 2, bias 33, segment search)."""
    v = pcm.astype(np.int32) >> 2
    mask = np.where(v < 0, 0x7F, 0xFF)
    mag = np.abs(v) + 33
    seg = np.searchsorted(_SEG_END, mag)
    s7 = np.minimum(seg, 7)
    code = np.where(seg >= 8, 0x7F, (s7 << 4) | ((mag >> (s7 + 1)) & 0x0F))
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _decode_formula() -> NDArray[np.int16]:
    """Decode all 256 codes with audioop's bias-0x84 expansion."""
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return np.where(u & 0x80, 0x84 - t, t - 0x84).astype(np.int16)


_ENCODE_TABLE: Final = _encode_formula(np.arange(-32768, 32768, dtype=np.int16))
_ENCODE_TABLE.setflags(write=False)
_DECODE_TABLE: Final = _decode_formula()
_DECODE_TABLE.setflags(write=False)


def encode_array(pcm: NDArray[np.int16]) -> NDArray[np.uint8]:
    """Encode 16-bit linear samples to mu-law codes.

    Args:
        pcm: int16 samples.

    Returns:
        One uint8 code per sample.
    """
    return _ENCODE_TABLE[pcm.astype(np.int32) + 32768]


def encode(pcm: bytes) -> bytes:
    """Encode signed 16-bit little-endian PCM bytes to mu-law bytes (``audioop.lin2ulaw(b, 2)``).

    Args:
        pcm: s16le bytes; must have an even length.

    Returns:
        Half as many mu-law bytes.

    Raises:
        ValueError: if ``pcm`` has an odd length.
    """
    if len(pcm) % 2:
        raise ValueError("PCM data must hold whole 16-bit samples")
    return encode_array(np.frombuffer(pcm, dtype="<i2")).tobytes()


def decode_array(mulaw: bytes) -> NDArray[np.int16]:
    """Decode mu-law bytes to int16 samples (a view-free copy, safe to modify)."""
    return _DECODE_TABLE[np.frombuffer(mulaw, dtype=np.uint8)]


def decode(mulaw: bytes) -> bytes:
    """Decode mu-law bytes to signed 16-bit little-endian PCM (``audioop.ulaw2lin(b, 2)``)."""
    return decode_array(mulaw).astype("<i2").tobytes()


def frames_160(data: bytes, remainder: bytes = b"") -> tuple[list[bytes], bytes]:
    """Split mu-law bytes into whole 20 ms frames, carrying the partial tail.

    TTS providers deliver arbitrary chunk sizes; Twilio accounting (marks, "how much was
    heard") is simplest in whole frames, so the tail waits for the next chunk.

    Args:
        data: new mu-law bytes.
        remainder: the tail returned by the previous call.

    Returns:
        ``(frames, remainder)``: full 160-byte frames and the leftover (< 160 bytes).
    """
    buf = remainder + data if remainder else data
    whole = len(buf) - len(buf) % FRAME_BYTES
    frames = [buf[i : i + FRAME_BYTES] for i in range(0, whole, FRAME_BYTES)]
    return frames, buf[whole:]


def pad_frame(tail: bytes) -> bytes:
    """Pad a final partial frame to 160 bytes with mu-law silence (0xFF, never 0x00)."""
    if len(tail) > FRAME_BYTES:
        raise ValueError("a frame tail must be at most 160 bytes")
    return tail + b"\xff" * (FRAME_BYTES - len(tail))


class FrameChunker:
    """Stateful wrapper around :func:`frames_160` for one audio stream."""

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def push(self, data: bytes) -> list[bytes]:
        """Add bytes and return every complete frame now available."""
        frames, self._rest = frames_160(data, self._rest)
        return frames

    def flush(self) -> bytes | None:
        """Return the padded last frame, or None when nothing is pending."""
        if not self._rest:
            return None
        frame, self._rest = pad_frame(self._rest), b""
        return frame
