"""A browser's 16 kHz linear audio to and from the call's 8 kHz μ-law, frame by frame."""

from __future__ import annotations

import numpy as np

from media.audio import g711
from media.audio.web_l16 import L16_FRAME_BYTES, l16_to_mulaw, mulaw_to_l16


def _tone(rate: int, freq: float, seconds: float = 0.02, amplitude: int = 8000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def test_a_20_ms_frame_is_640_bytes_one_way_and_160_the_other() -> None:
    mulaw = g711.encode_array(_tone(8000, 300)).tobytes()
    assert len(mulaw) == 160
    assert len(mulaw_to_l16(mulaw)) == L16_FRAME_BYTES
    assert len(l16_to_mulaw(_tone(16000, 300).tobytes())) == 160


def test_a_voice_band_tone_keeps_its_pitch_and_level_through_both_directions() -> None:
    tone = _tone(16000, 440, seconds=0.2)
    back = g711.decode_array(l16_to_mulaw(tone.tobytes())).astype(np.float64)
    crossings = np.count_nonzero(np.diff(np.signbit(back)))
    assert abs(crossings / 2 / 0.2 - 440) < 15
    assert abs(np.sqrt((back ** 2).mean()) - 8000 / np.sqrt(2)) < 8000 * 0.06
    up = np.frombuffer(mulaw_to_l16(l16_to_mulaw(tone.tobytes())), dtype="<i2").astype(np.float64)
    assert len(up) == len(tone)
    # The same wave, half a 16 kHz sample late (each kept sample is the mean of a pair).
    ref = tone.astype(np.float64)
    best = max(np.corrcoef(up[lag:], ref[:len(ref) - lag])[0, 1] for lag in range(3))
    assert best > 0.99


def test_empty_and_odd_input_convert_without_error() -> None:
    assert mulaw_to_l16(b"") == b""
    assert l16_to_mulaw(b"") == b""
    assert len(l16_to_mulaw(b"\x00" * 643)) == 160
