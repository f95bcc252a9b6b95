"""Energy VAD over mu-law."""

from __future__ import annotations

import pytest

from media.stt.vad import EnergyVad, VoiceEnd, VoiceStart
from tests.audio_samples import silence_mulaw, tone_mulaw


def test_speech_between_silences_is_one_utterance_with_audio_times() -> None:
    """Onset and end are reported in audio seconds; the utterance audio includes pre-roll and hangover."""
    vad = EnergyVad(end_silence=0.5, preroll=0.2)
    events = vad.process(silence_mulaw(1.0) + tone_mulaw(0.6) + silence_mulaw(1.0))
    start, end = events
    assert isinstance(start, VoiceStart) and start.at == pytest.approx(1.0)
    assert isinstance(end, VoiceEnd)
    assert end.start == pytest.approx(1.0) and end.end == pytest.approx(1.6)
    assert len(end.audio) == pytest.approx(8000 * (0.2 + 0.6 + 0.5), abs=160)
    assert not vad.in_speech


def test_short_gaps_and_clicks_do_not_split_or_start_utterances() -> None:
    """A 200 ms pause stays inside the utterance; a single 20 ms click starts nothing."""
    vad = EnergyVad(end_silence=0.5, start_frames=2)
    assert vad.process(silence_mulaw(0.2) + tone_mulaw(0.02) + silence_mulaw(0.5)) == []
    events = vad.process(tone_mulaw(0.4) + silence_mulaw(0.2) + tone_mulaw(0.4) + silence_mulaw(0.6))
    assert [type(e) for e in events] == [VoiceStart, VoiceEnd]


def test_bytes_split_mid_frame_give_the_same_events() -> None:
    """Chunk boundaries that split 20 ms frames do not change the result."""
    audio = tone_mulaw(0.5) + silence_mulaw(0.8)
    whole = EnergyVad().process(audio)
    vad = EnergyVad()
    pieces = [e for i in range(0, len(audio), 77) for e in vad.process(audio[i : i + 77])]
    assert [(type(e), getattr(e, "at", None)) for e in pieces] == [(type(e), getattr(e, "at", None)) for e in whole]


def test_flush_ends_an_open_utterance_and_long_speech_is_cut() -> None:
    """Closing mid-speech yields the utterance; speech past max_utterance is cut."""
    vad = EnergyVad(max_utterance=1.0)
    events = vad.process(tone_mulaw(2.5))
    assert [type(e) for e in events] == [VoiceStart, VoiceEnd, VoiceStart, VoiceEnd, VoiceStart]
    assert [type(e) for e in vad.flush()] == [VoiceEnd]
    assert vad.flush() == []
