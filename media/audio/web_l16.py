"""A browser's audio at the edge: 16 kHz 16-bit little-endian PCM (`audio/L16`) to and from 8 kHz μ-law.

The call pipeline speaks 8 kHz μ-law, Twilio's format; a browser's AudioWorklet speaks linear
PCM. Each 20 ms frame is converted on its own, with no state between frames: the join between
two frames is one sample, below what a listener or the STT hears, and a stateless converter
can't carry one call's audio into another's.
- Down (16 → 8 kHz): each pair of samples is averaged, a two-tap low-pass that keeps aliasing
  out of the telephone band, then encoded to μ-law.
- Up (8 → 16 kHz): each sample is followed by the mean of it and the next (linear interpolation;
  the last sample is repeated).
"""

from __future__ import annotations

from typing import Final

import numpy as np

from media.audio import g711

L16_FRAME_BYTES: Final = 640
"""20 ms of 16 kHz 16-bit mono."""


def l16_to_mulaw(pcm: bytes) -> bytes:
    """16 kHz 16-bit LE PCM to 8 kHz μ-law (a trailing odd sample or byte is dropped)."""
    samples = np.frombuffer(pcm[: len(pcm) // 4 * 4], dtype="<i2").astype(np.int32)
    halved = ((samples[0::2] + samples[1::2]) >> 1).astype(np.int16)
    return g711.encode_array(halved).tobytes()


def mulaw_to_l16(mulaw: bytes) -> bytes:
    """8 kHz μ-law to 16 kHz 16-bit LE PCM, twice as many samples."""
    samples = g711.decode_array(mulaw).astype(np.int32)
    if not len(samples):
        return b""
    out = np.empty(2 * len(samples), dtype="<i2")
    out[0::2] = samples
    out[1:-1:2] = (samples[:-1] + samples[1:]) >> 1
    out[-1] = samples[-1]
    return out.tobytes()
