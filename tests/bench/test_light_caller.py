"""The bench's light caller against the real app: Twilio's side of a call, with turns, a barge-in and marks."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from light_caller import LightCaller, Line  # noqa: E402  (bench/light_caller.py)
from tests.calls.conftest import AUTH_TOKEN, NUMBER, fake_twilio, line_factory, speech  # noqa: E402,F401
from tests.conftest import PUBLIC_URL  # noqa: E402

VOICE_PATH = "/api/voice-agent/handle-call"
LONG_REPLY = ("Our opening hours are nine to five on weekdays, ten to two on Saturdays, "
              "and we are closed on Sundays and public holidays, except in December.")


async def test_a_light_call_is_answered_interrupts_and_hears_the_agent(line_factory: Any) -> None:
    """Greeting, a question, a barge-in into the long answer, a last answer: every turn timed, marks echoed."""
    line = await line_factory()
    line.deepgram.state.say("What are your hours?", "Sorry, and on Sunday?", "Thanks, bye.")
    line.openai.state.script(LONG_REPLY, "We are closed on Sundays.", "You are welcome.")
    caller = LightCaller(line.server_url, AUTH_TOKEN, line.http, voice_path=VOICE_PATH, public_url=PUBLIC_URL,
                         quiet_timeout=10.0, reply_timeout=3.0)
    audio = speech()
    result = await caller.call(NUMBER, [Line.of(audio), Line.of(audio, barge_in_after=0.5), Line.of(audio)],
                               from_number="+15550001111")
    await line.settled()
    assert result.refused_with is None and not result.hung_up_by_agent
    assert len(result.turn_latencies_ms) == 3
    assert result.clears == 1 and len(result.barge_in_latencies_ms) == 1
    assert result.replies >= 3 and result.marks_echoed >= 3 and result.gaps_ms == []
    assert result.audio_sampled > 0 and result.audio_silent == 0
    assert result.stream_span is not None and result.stream_span[0] < result.stream_span[1]
    turns = await line.turns(result.call_sid)
    assert [t["text"] for t in turns if t["role"] == "user"] == [
        "What are your hours?", "Sorry, and on Sunday?", "Thanks, bye."]
    assert any(t["interrupted"] for t in turns if t["role"] == "assistant")
    row = await line.call_row(result.call_sid)
    assert row["end_reason"] == "caller_hung_up"


async def test_a_light_caller_waits_for_a_late_greeting_instead_of_talking_over_it(line_factory: Any) -> None:
    """The greeting's first frame 0.6 s into the call (a slow TTS, a loaded server): the question waits for it.

    Taking the first 0.25 s of quiet for the end of the greeting made the soak's callers speak over it
    under load, and the call heard one reply where its script expected two.
    """
    line = await line_factory(deepgram_options={"speak_first_byte_delay": 0.6})
    line.deepgram.state.say("What are your hours?")
    line.openai.state.script("We open at nine.")
    caller = LightCaller(line.server_url, AUTH_TOKEN, line.http, voice_path=VOICE_PATH, public_url=PUBLIC_URL,
                         quiet_timeout=10.0, reply_timeout=3.0)
    result = await caller.call(NUMBER, [Line.of(speech())], from_number="+15550001111")
    await line.settled()
    assert result.replies == 2 and result.clears == 0, result.story
    turns = await line.turns(result.call_sid)
    assert [(t["role"], t["interrupted"]) for t in turns] == [("assistant", False), ("user", False),
                                                             ("assistant", False)]
