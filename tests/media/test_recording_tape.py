"""The recording's timeline: what the caller heard, on both sides, placed by time and cut at a clear."""

from __future__ import annotations

import struct

import pytest

from media.audio import g711
from media.recording.tape import MULAW_SILENCE, StereoTape
from media.recording.wav import HEADER_BYTES, header, interleave

FRAME = 160  # 20 ms at 8 kHz
A = bytes([0x10]) * FRAME
B = bytes([0x20]) * FRAME


def test_caller_frames_follow_their_timestamps_from_the_first_ones_arrival() -> None:
    tape = StereoTape()
    tape.caller(A, timestamp_ms=5000, now_ms=100)  # pinned at 100 ms
    tape.caller(B, timestamp_ms=5040, now_ms=135)  # arrives early: still 40 ms after the first
    caller, agent = tape.take(now_ms=200)
    assert len(caller) == len(agent) == 1600
    assert caller[:800] == bytes([MULAW_SILENCE]) * 800
    assert caller[800:960] == A
    assert caller[960:1120] == bytes([MULAW_SILENCE]) * 160
    assert caller[1120:1280] == B
    assert agent == bytes([MULAW_SILENCE]) * 1600


def test_agent_frames_sent_ahead_play_one_after_another() -> None:
    tape = StereoTape()
    for _ in range(3):
        tape.agent(A, now_ms=0)  # a burst: Twilio plays them back to back
    _, agent = tape.take(now_ms=60)
    assert agent == A * 3


def test_a_clear_drops_what_was_queued_after_it() -> None:
    tape = StereoTape()
    for _ in range(50):  # one second sent at once
        tape.agent(A, now_ms=0)
    tape.clear(now_ms=100)
    tape.agent(B, now_ms=100)  # the next reply starts where the cut was
    _, agent = tape.take(now_ms=1000)
    assert agent[:800] == A * 5
    assert agent[800:960] == B
    assert agent[960:] == bytes([MULAW_SILENCE]) * (8000 - 960)


def test_only_final_samples_are_taken_and_the_rest_stays_cuttable() -> None:
    tape = StereoTape()
    for _ in range(10):
        tape.agent(A, now_ms=0)
    _, first = tape.take(now_ms=40)
    tape.clear(now_ms=40)
    _, second = tape.take(now_ms=200)
    assert first == A * 2
    assert second == bytes([MULAW_SILENCE]) * 1280
    assert tape.taken == 1600


def test_a_late_caller_frame_before_what_was_taken_is_dropped() -> None:
    tape = StereoTape()
    tape.caller(A, timestamp_ms=0, now_ms=0)
    tape.take(now_ms=30)
    tape.caller(B, timestamp_ms=20, now_ms=31)  # its first 10 ms are already written
    caller, _ = tape.take(now_ms=40)
    assert caller == B[80:]


def test_the_wav_header_says_stereo_8khz_16_bit() -> None:
    head = header(32000)
    assert len(head) == HEADER_BYTES
    riff, size, wave, fmt, _, pcm, channels, rate, byte_rate, align, bits, data, length = struct.unpack(
        "<4sI4s4sIHHIIHH4sI", head)
    assert (riff, wave, fmt, data) == (b"RIFF", b"WAVE", b"fmt ", b"data")
    assert (pcm, channels, rate, byte_rate, align, bits) == (1, 2, 8000, 32000, 4, 16)
    assert (size, length) == (36 + 32000, 32000)


def test_interleaving_puts_the_caller_left_and_the_agent_right() -> None:
    caller, agent = g711.encode(struct.pack("<2h", 1000, -1000)), g711.encode(struct.pack("<2h", -3000, 3000))
    left_right = struct.unpack("<4h", interleave(caller, agent))
    assert left_right[0] == pytest.approx(1000, rel=0.05) and left_right[2] == pytest.approx(-1000, rel=0.05)
    assert left_right[1] == pytest.approx(-3000, rel=0.05) and left_right[3] == pytest.approx(3000, rel=0.05)


def test_tracks_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError):
        interleave(A, A[:10])
