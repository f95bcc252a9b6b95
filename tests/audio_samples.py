"""Audio the tests and benches send and the fakes answer with: 8 kHz mu-law tones and silence."""

from __future__ import annotations

import math

import numpy as np

from media.audio import g711


def tone_mulaw(seconds: float, *, freq: float = 440.0, amplitude: int = 8000, rate: int = g711.SAMPLE_RATE) -> bytes:
    """A sine tone as 8 kHz mu-law: stands in for speech in tests and in Aura replies."""
    n = int(round(seconds * rate))
    samples = (amplitude * np.sin(2 * math.pi * freq * np.arange(n) / rate)).astype(np.int16)
    return g711.encode_array(samples).tobytes()


def silence_mulaw(seconds: float) -> bytes:
    """mu-law silence of the given length."""
    return b"\xff" * int(round(seconds * g711.SAMPLE_RATE))
