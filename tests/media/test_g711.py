"""G.711 mu-law codec, framing and resampling."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from media.audio import g711
from media.audio.resample import StreamResampler

# SHA-256 of audioop.lin2ulaw(all 65536 s16le samples, 2) and audioop.ulaw2lin(bytes(range(256)), 2),
# recorded once with CPython 3.11's audioop (not imported here: it warns and is gone in 3.13).
_AUDIOOP_ENCODE_ALL = "81d633c9e6972a18c74a58720b96cb8ca0bdd096d4060b646dd708c3b846019a"
_AUDIOOP_DECODE_ALL = "3dab54339e520bb2c924826e3b72a917a2b612e9fd12fc867500f1d983a75827"
_SEG_UEND = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)


def _audioop_lin2ulaw(sample: int) -> int:
    """Scalar port of CPython audioop.c st_14linear2ulaw(sample >> 2), written independently."""
    pcm = sample >> 2
    if pcm < 0:
        pcm, mask = -pcm, 0x7F
    else:
        mask = 0xFF
    pcm = min(pcm, 8159) + 33
    seg = next((i for i, end in enumerate(_SEG_UEND) if pcm <= end), 8)
    if seg >= 8:
        return 0x7F ^ mask
    return ((seg << 4) | ((pcm >> (seg + 1)) & 0x0F)) ^ mask


def _audioop_ulaw2lin(code: int) -> int:
    """Scalar port of CPython audioop.c st_ulaw2linear16."""
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def test_known_codes_match_audioop_values() -> None:
    """Spot values that audioop produces: 0 is 0xFF, full scale is 0x80/0x00, codes decode to ±32124."""
    pcm = np.array([0, 32767, -32768, 1000, -1000, 4, -4], dtype=np.int16)
    assert list(g711.encode_array(pcm)) == [0xFF, 0x80, 0x00, 0xCE, 0x4E, 0xFE, 0x7E]
    decoded = g711.decode_array(bytes([0xFF, 0x7F, 0x80, 0x00, 0xCE]))
    assert list(decoded) == [0, 0, 32124, -32124, 988]


def test_every_16_bit_sample_encodes_like_audioop() -> None:
    """The precomputed encode table equals the scalar audioop algorithm for all 65536 inputs."""
    samples = np.arange(-32768, 32768, dtype=np.int16)
    expected = bytes(_audioop_lin2ulaw(int(s)) for s in samples)
    encoded = g711.encode(samples.astype("<i2").tobytes())
    assert encoded == expected
    assert hashlib.sha256(encoded).hexdigest() == _AUDIOOP_ENCODE_ALL


def test_all_256_codes_decode_like_audioop_and_round_trip() -> None:
    """Decoding all codes matches audioop; re-encoding returns the code (except 0x7F, negative zero)."""
    codes = bytes(range(256))
    decoded = g711.decode_array(codes)
    assert list(decoded) == [_audioop_ulaw2lin(c) for c in range(256)]
    reencoded = g711.encode_array(decoded)
    assert [c for c in range(256) if reencoded[c] != c] == [0x7F]
    assert g711.decode(codes) == decoded.astype("<i2").tobytes()
    assert hashlib.sha256(g711.decode(codes)).hexdigest() == _AUDIOOP_DECODE_ALL


def test_silence_frame_is_20_ms_of_0xff_and_decodes_to_zero() -> None:
    """A silence frame is 160 bytes of 0xFF, which decode to zeros."""
    assert g711.SILENCE_FRAME == b"\xff" * 160
    assert not g711.decode_array(g711.SILENCE_FRAME).any()


def test_encode_rejects_odd_length_pcm() -> None:
    """Half a sample is an error, not silently dropped."""
    with pytest.raises(ValueError, match="whole 16-bit samples"):
        g711.encode(b"\x00\x01\x02")


def test_frames_160_carries_the_tail_and_pads_with_0xff() -> None:
    """Chunks of any size become whole frames; the last one is padded with silence, not 0x00."""
    frames, rest = g711.frames_160(b"\x01" * 100)
    assert frames == [] and rest == b"\x01" * 100
    frames, rest = g711.frames_160(b"\x02" * 250, rest)
    assert frames == [b"\x01" * 100 + b"\x02" * 60, b"\x02" * 160] and rest == b"\x02" * 30
    assert g711.pad_frame(rest) == b"\x02" * 30 + b"\xff" * 130
    with pytest.raises(ValueError):
        g711.pad_frame(b"\x00" * 161)


def test_frame_chunker_flushes_padded_tail_once() -> None:
    """The chunker yields whole frames, then one padded frame, then nothing."""
    chunker = g711.FrameChunker()
    assert chunker.push(b"\x10" * 330) == [b"\x10" * 160, b"\x10" * 160]
    assert chunker.flush() == b"\x10" * 10 + b"\xff" * 150
    assert chunker.flush() is None


@pytest.mark.parametrize(("in_rate", "out_rate"), [(24000, 8000), (22050, 8000), (8000, 16000)])
def test_stream_resampler_output_length_matches_rate_ratio(in_rate: int, out_rate: int) -> None:
    """One second fed in odd-sized chunks (splitting samples) yields one second at the new rate."""
    tone = (8000 * np.sin(2 * np.pi * 300 * np.arange(in_rate) / in_rate)).astype("<i2").tobytes()
    resampler = StreamResampler(in_rate, out_rate)
    out = b"".join(resampler.process(tone[i : i + 777]) for i in range(0, len(tone), 777)) + resampler.flush()
    assert abs(len(out) // 2 - out_rate) <= 2
    assert resampler.flush() == b""


def test_stream_resampler_keeps_a_tone_and_its_level() -> None:
    """24 kHz → 8 kHz keeps a 300 Hz tone's RMS within a few percent after the filter settles."""
    rate = 24000
    tone = (8000 * np.sin(2 * np.pi * 300 * np.arange(rate) / rate)).astype(np.int16)
    resampler = StreamResampler(rate, 8000)
    out = np.frombuffer(resampler.process(tone.tobytes()) + resampler.flush(), dtype="<i2")
    middle = out[1000:7000].astype(np.float64)
    assert abs(np.sqrt(np.mean(middle**2)) - 8000 / np.sqrt(2)) < 0.03 * 8000


def test_stream_resampler_refuses_use_after_flush() -> None:
    """A flushed stream is finished; reusing it is a bug."""
    resampler = StreamResampler(8000, 16000)
    resampler.flush()
    with pytest.raises(RuntimeError):
        resampler.process(b"\x00\x00")
