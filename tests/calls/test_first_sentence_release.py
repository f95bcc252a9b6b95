"""The first sentence of an answer reaches TTS with the token that ends it, not with the token after."""

from __future__ import annotations

from typing import Any

from media.caller_simulator import Say
from tests.calls.conftest import speech

TOKEN_GAP = 0.25
"""Seconds between the fake LLM's tokens: far longer than the server needs to pass a sentence on."""


async def test_a_sentence_goes_to_tts_before_the_next_token_arrives(line_factory: Any) -> None:
    """The LLM pauses after 'nine.': the speech request for the first sentence must not wait out the pause."""
    line = await line_factory()
    line.openai.state.options.token_delay = TOKEN_GAP
    line.deepgram.state.say("When do you open?")
    line.openai.state.script("We open at nine. Bye for now.")
    result = await line.call([Say(speech())])
    await line.settled()
    assert len(result.turn_latencies_ms) == 1
    token_times = line.openai.state.token_times
    assert len(token_times) == 7  # "We", " open", " at", " nine.", " Bye", " for", " now."
    first = next(r for r in line.deepgram.state.speak_requests if r.text == "We open at nine.")
    assert token_times[3] <= first.at < token_times[4]
    assert first.at - token_times[3] < TOKEN_GAP / 2
