"""TTS faults in a real call through the fakes: the sentence is retried once, then the local fallback says it.

Faults are injected at the fake Aura's wire (refused, 5xx, cut mid-body); what the caller
hears is timed from the fake's record of the last fault to the first voiced agent frame
that arrives after it.
"""

from __future__ import annotations

from typing import Any

from media.caller_simulator import CallResult, Say
from tests.calls.conftest import speech
from tests.calls.hearing import heard_after, provider_errors, shown_faults, timed_call, voiced
from tests.audio_samples import tone_mulaw
from tests.fake_deepgram import SpeakFault

AURA_FRAME = tone_mulaw(0.02, freq=300.0)
"""Every frame of the fake Aura's tone is this one (300 Hz repeats every 80 samples); espeak-ng's never is."""
ANSWER = "We open at nine. We close at five on weekdays."
FIRST = "We open at nine."
SECOND = "We close at five on weekdays."
TTS_FALLBACK_BOUND = 1.5
"""Seconds from the provider's last failure to the fallback's first voiced frame: espeak-ng renders a
sentence in tens of milliseconds; the rest is the event loop shared with the fakes and the caller."""

async def tts_errors(line: Any, kind: str) -> float:
    return await provider_errors(line, "tts", kind)


def frames_since_request(line: Any, result: CallResult, text: str) -> list[bytes]:
    """The agent frames that arrived after TTS was first asked for ``text``."""
    asked = next(r.at for r in line.deepgram.state.speak_requests if r.text == text)
    assert result.arrivals is not None
    return [f for t, f in result.arrivals if t >= asked]


async def assert_rest_of_answer_heard(line: Any, result: CallResult) -> float:
    """The second sentence was heard, in the fallback's voice, soon after the TTS's last fault."""
    first, seconds = heard_after(result, line.deepgram.state.speak_fault_times[-1])
    assert first is not None, "silence after the TTS fault"
    assert first < TTS_FALLBACK_BOUND, first
    assert seconds > 0.5, seconds
    assert any(voiced(f) and f != AURA_FRAME for f in frames_since_request(line, result, SECOND))
    turns = await line.turns(result.call_sid)
    assert turns[-1]["role"] == "assistant" and turns[-1]["text"] == ANSWER, turns
    return first


async def test_a_sentence_tts_answers_5xx_twice_is_spoken_by_the_local_fallback(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("When are you open?")
    line.openai.state.script(ANSWER)
    line.deepgram.state.speak_faults.extend([SpeakFault("status", 503, text=SECOND)] * 2)
    result = await timed_call(line, [Say(speech())])
    await assert_rest_of_answer_heard(line, result)
    assert [r.text for r in line.deepgram.state.speak_requests].count(SECOND) == 2
    assert await tts_errors(line, "http_5xx") == 2
    assert await shown_faults(line, result.call_sid) == [("tts", "http_5xx")] * 2


async def test_a_refused_tts_connection_is_retried_then_falls_back(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("When are you open?")
    line.openai.state.script(ANSWER)
    line.deepgram.state.speak_faults.extend([SpeakFault("refuse", text=SECOND)] * 2)
    result = await timed_call(line, [Say(speech())])
    await assert_rest_of_answer_heard(line, result)
    assert await tts_errors(line, "connection") == 2
    assert await shown_faults(line, result.call_sid) == [("tts", "connection")] * 2


async def test_a_tts_stream_cut_mid_sentence_keeps_its_audio_and_the_fallback_says_the_sentence(
        line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("When are you open?")
    line.openai.state.script(ANSWER)
    line.deepgram.state.speak_faults.extend([SpeakFault("cut", cut_after_bytes=1600, text=SECOND)] * 2)
    result = await timed_call(line, [Say(speech())])
    await assert_rest_of_answer_heard(line, result)
    # The first sentence (8 frames of the fake's tone), then what each cut stream delivered of the
    # second (200 ms each) was played, then the fallback's voice. The second sentence is asked for
    # while the first still streams, so the frames are counted from the answer's first request.
    assert sum(f == AURA_FRAME for f in frames_since_request(line, result, FIRST)) == 8 + 20
    assert await tts_errors(line, "connection") == 2
    assert await shown_faults(line, result.call_sid) == [("tts", "connection")] * 2


async def test_one_tts_failure_is_retried_with_the_same_provider(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("When are you open?")
    line.openai.state.script(ANSWER)
    line.deepgram.state.speak_faults.append(SpeakFault("status", 502, text=SECOND))
    result = await timed_call(line, [Say(speech())])
    first, _ = heard_after(result, line.deepgram.state.speak_fault_times[-1])
    assert first is not None and first < TTS_FALLBACK_BOUND
    assert [r.text for r in line.deepgram.state.speak_requests].count(SECOND) == 2
    assert await tts_errors(line, "http_5xx") == 1
    assert await shown_faults(line, result.call_sid) == [("tts", "http_5xx")]
