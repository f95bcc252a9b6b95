"""LLM faults in a real call through the fakes: the agent apologises within the token bound and answers the next turn.

The calls run with ``[llm] first_token_timeout_seconds`` at :data:`TOKEN_BOUND` (4 s by
default) to keep the suite quick; the apology's first voiced frame must reach the caller
within that bound plus the turn's own path (the fake STT's 300 ms endpointing and TTS).
"""

from __future__ import annotations

from typing import Any

import pytest

from media.caller_simulator import Say
from tests.calls.conftest import speech
from tests.calls.hearing import heard_after, provider_errors, shown_faults, timed_call
from tests.fake_openai import ScriptedReply

TOKEN_BOUND = 1.0
TURN_PATH = 0.8
"""Seconds a turn takes besides the LLM: endpointing (0.3 s of audio), TTS, frames, a shared event loop."""
ANSWER = "We open at nine."


async def faulty_line(line_factory: Any, first: ScriptedReply) -> Any:
    line = await line_factory(llm={"first_token_timeout_seconds": TOKEN_BOUND})
    line.deepgram.state.say("When are you open?", "Are you there?")
    line.openai.state.script(first, ANSWER)
    return line


async def assert_apologised_then_answered(line: Any, result: Any, *, apology: str) -> None:
    """The first turn was answered with ``apology`` in bound and the caller's next turn got the real answer."""
    assert len(result.turn_latencies_ms) == 2, result.turn_latencies_ms
    # Heard: the first voiced frame after the caller's question, not merely the first frame.
    first, _ = heard_after(result, result.lines_ended_at[0])
    assert first is not None and first < TOKEN_BOUND + TURN_PATH, (first, result.turn_latencies_ms)
    turns = [(t["role"], t["text"]) for t in await line.turns(result.call_sid)]
    assert turns[1:] == [("user", "When are you open?"), ("assistant", apology),
                         ("user", "Are you there?"), ("assistant", ANSWER)], turns
    # The next request saw the turn as the caller heard it.
    history = line.call_requests()[-1]["messages"]
    assert {"role": "assistant", "content": apology} in history


@pytest.mark.parametrize("first", [ScriptedReply("Too late to matter.", head_delay=5.0),
                                   ScriptedReply("Too late to matter.", stall_after_deltas=0)],
                         ids=["no-response-head", "no-first-token"])
async def test_no_first_token_in_bound_is_answered_with_the_apology(line_factory: Any, first: ScriptedReply) -> None:
    line = await faulty_line(line_factory, first)
    result = await timed_call(line, [Say(speech()), Say(speech())])
    await assert_apologised_then_answered(line, result, apology=line.settings.calls.apology_text)
    assert await provider_errors(line, "llm", "timeout") == 1
    assert await shown_faults(line, result.call_sid) == [("llm", "timeout")]
    assert line.openai.state.streams_aborted == 1


@pytest.mark.parametrize("status", [429, 503])
async def test_a_refused_completion_is_answered_with_the_apology(line_factory: Any, status: int) -> None:
    # The client retries once before the first byte; both attempts are refused.
    line = await line_factory(llm={"first_token_timeout_seconds": TOKEN_BOUND})
    line.deepgram.state.say("When are you open?", "Are you there?")
    line.openai.state.script(ScriptedReply(status=status), ScriptedReply(status=status), ANSWER)
    result = await timed_call(line, [Say(speech()), Say(speech())])
    await assert_apologised_then_answered(line, result, apology=line.settings.calls.apology_text)
    assert await provider_errors(line, "llm", f"http_{status // 100}xx") == 1
    assert await shown_faults(line, result.call_sid) == [("llm", f"http_{status // 100}xx")]


async def test_a_stream_stalled_mid_reply_keeps_what_was_spoken_and_apologises(line_factory: Any) -> None:
    # Five deltas: "We open at nine." is a sentence and goes to TTS; " We" waits for the rest.
    line = await faulty_line(line_factory, ScriptedReply("We open at nine. We close at five.", stall_after_deltas=5))
    result = await timed_call(line, [Say(speech()), Say(speech())])
    apology = line.settings.calls.apology_text
    turns = [(t["role"], t["text"]) for t in await line.turns(result.call_sid)]
    assert turns[2] == ("assistant", f"We open at nine. {apology}"), turns
    assert turns[4] == ("assistant", ANSWER), turns
    assert {"role": "assistant", "content": f"We open at nine. {apology}"} in line.call_requests()[-1]["messages"]
    # The stream went quiet after its fifth token; the apology was heard within the bound of it.
    stalled_at = line.openai.state.token_times[4]
    asked = next(r.at for r in line.deepgram.state.speak_requests if r.text == apology)
    first, _ = heard_after(result, asked)
    assert first is not None
    assert asked - stalled_at + first < TOKEN_BOUND + TURN_PATH, (asked - stalled_at, first)
    assert await provider_errors(line, "llm", "stalled") == 1
    assert await shown_faults(line, result.call_sid) == [("llm", "stalled")]
