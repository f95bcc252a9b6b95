"""The WAV container of a recording: 8 kHz, 16-bit, two channels (caller left, agent right)."""

from __future__ import annotations

import struct
from typing import Final

import numpy as np

from media.audio import g711
from media.recording.tape import SAMPLE_RATE

CHANNELS: Final = 2
BYTES_PER_SAMPLE: Final = 2
HEADER_BYTES: Final = 44
BYTES_PER_SECOND: Final = SAMPLE_RATE * CHANNELS * BYTES_PER_SAMPLE


def header(data_bytes: int) -> bytes:
    """A canonical 44-byte PCM header for ``data_bytes`` of interleaved samples."""
    return struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + data_bytes, b"WAVE", b"fmt ", 16, 1, CHANNELS,
                       SAMPLE_RATE, BYTES_PER_SECOND, CHANNELS * BYTES_PER_SAMPLE, 8 * BYTES_PER_SAMPLE,
                       b"data", data_bytes)


def interleave(caller: bytes, agent: bytes) -> bytes:
    """Two equally long μ-law tracks as interleaved little-endian PCM16 frames."""
    if len(caller) != len(agent):
        raise ValueError("both tracks must be equally long")
    stereo = np.empty((len(caller), CHANNELS), dtype="<i2")
    stereo[:, 0] = g711.decode_array(caller)
    stereo[:, 1] = g711.decode_array(agent)
    return stereo.tobytes()
