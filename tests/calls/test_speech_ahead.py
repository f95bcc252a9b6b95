"""The next sentence is synthesised while this one streams, so TTS at real time leaves no silence
between sentences, and a barge-in stops the synthesis running ahead too.

The fake Aura paces its answer as hosted TTS does: the first byte after 200 ms, then 100 ms of
audio every 100 ms. Asking for a sentence only once the previous one's audio has all arrived
would leave about that first-byte wait as silence at the boundary.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any, Final

from media.audio import g711
from media.caller_simulator import CallResult, Say
from tests.calls.conftest import speech
from tests.calls.hearing import timed_call

FIRST_BYTE: Final = 0.2
CHUNK_SECONDS: Final = 0.1
CHUNK_BYTES: Final = 800
BYTES_PER_CHAR: Final = 80
"""The call line's fake Aura: 10 ms of audio per character of text."""
REAL_TIME_TTS: Final = {"speak_first_byte_delay": FIRST_BYTE, "speak_chunk_delay": CHUNK_SECONDS,
                        "speak_chunk_bytes": CHUNK_BYTES, "speak_bytes_per_char": BYTES_PER_CHAR}
TOKEN_GAP: Final = 0.02
"""Seconds between the fake LLM's tokens, as hosted models stream."""
BOUNDARY_GAP_BOUND: Final = 0.05
"""Seconds of silence allowed where the first sentence ends: the second one's audio is already
waiting then, so only the event loop (shared with the fakes and the caller) can delay it."""

FIRST = "We are open from nine in the morning until five in the evening, Monday to Friday."
SECOND = "On Saturdays we open at ten and close at two."
LONG_FIRST = ("We are open from nine in the morning until five in the evening on every weekday, "
              "and from ten in the morning until two in the afternoon on Saturdays.")
LONG_SECOND = ("On Sundays and on public holidays we stay closed, but you can always leave us "
               "a message after the tone and we will call you back.")


def audio_frames(text: str) -> int:
    """Frames of the fake's speech for ``text`` (the tail padded into one more)."""
    return math.ceil(len(text) * BYTES_PER_CHAR / g711.FRAME_BYTES)


def last_chunk_sent(line: Any, text: str) -> float:
    """When the fake Aura wrote the last chunk of ``text``'s speech (``time.monotonic()``): it paces
    chunks at fixed times from the request."""
    asked: float = next(r.at for r in line.deepgram.state.speak_requests if r.text == text)
    chunks = math.ceil(len(text) * BYTES_PER_CHAR / CHUNK_BYTES)
    return asked + FIRST_BYTE + (chunks - 1) * CHUNK_SECONDS


def silences_before(result: CallResult) -> list[float]:
    """For each agent frame, the silence the caller heard just before it, played as Twilio plays:
    each frame right after the previous one, or on arrival when playback had run dry."""
    assert result.arrivals is not None
    silences: list[float] = []
    play_end: float | None = None
    for at, _ in result.arrivals:
        silences.append(0.0 if play_end is None else max(at - play_end, 0.0))
        play_end = max(at, play_end or at) + g711.FRAME_BYTES / g711.SAMPLE_RATE
    return silences


def speech_ahead_tasks() -> list[asyncio.Task[Any]]:
    """Syntheses of a reply still running (they belong to the reply's task)."""
    return [t for t in asyncio.all_tasks() if "SpeechAhead" in repr(t.get_coro())]


async def test_the_next_sentence_is_synthesised_while_this_one_streams_and_follows_it_without_a_gap(
        line_factory: Any) -> None:
    line = await line_factory(greeting="", deepgram_options=REAL_TIME_TTS)
    line.openai.state.options.token_delay = TOKEN_GAP
    line.deepgram.state.say("When are you open?")
    line.openai.state.script(f"{FIRST} {SECOND}")
    result = await timed_call(line, [Say(speech())])
    assert [r.text for r in line.deepgram.state.speak_requests] == [FIRST, SECOND]
    second_asked = line.deepgram.state.speak_requests[1].at
    assert second_asked < last_chunk_sent(line, FIRST), "the second sentence waited for the first's audio"
    silences = silences_before(result)
    assert len(silences) == audio_frames(FIRST) + audio_frames(SECOND)
    boundary = silences[audio_frames(FIRST)]
    assert boundary < BOUNDARY_GAP_BOUND, f"{boundary * 1000:.0f} ms of silence between the sentences"
    turns = await line.turns(result.call_sid)
    assert turns[-1]["role"] == "assistant" and turns[-1]["text"] == f"{FIRST} {SECOND}"
    assert not turns[-1]["interrupted"]


async def test_a_barge_in_stops_the_sentence_synthesised_ahead_and_keeps_only_what_was_heard(
        line_factory: Any) -> None:
    line = await line_factory(greeting="", deepgram_options=REAL_TIME_TTS)
    line.openai.state.options.token_delay = TOKEN_GAP
    line.deepgram.state.say("When are you open?", "Wait, stop please.")
    line.openai.state.script(f"{LONG_FIRST} {LONG_SECOND}", "Sure, I stopped.")
    result = await timed_call(line, [Say(speech()), Say(speech(0.6), barge_in_after=0.5)])
    await asyncio.sleep(0.1)
    assert speech_ahead_tasks() == []
    asked = [r.text for r in line.deepgram.state.speak_requests]
    assert asked[:2] == [LONG_FIRST, LONG_SECOND]
    assert result.clears == 1
    cut = [t for t in await line.turns(result.call_sid) if t["interrupted"]]
    assert len(cut) == 1
    heard = cut[0]["text"]
    assert heard and LONG_FIRST.startswith(heard) and heard != LONG_FIRST
    assert line.openai.state.chat_requests[1]["messages"][-2] == {"role": "assistant", "content": heard}
