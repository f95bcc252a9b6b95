"""STT faults in a real call through the fakes: lost for good, the agent says it can't hear and ends or transfers.

The fake Deepgram drops the call's socket and refuses every reconnect, so the client spends
its whole reconnect budget (five attempts, 0.25 s doubling to 4 s: about 7.75 s of backoff)
before it gives up; the caller must hear ``calls.cant_hear_text`` within that budget, long
before the media timeout (15 s) would end the call in silence.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from media.caller_simulator import Say
from tests.calls.conftest import speech
from tests.calls.hearing import heard_after, provider_errors, shown_faults, timed_call
from tests.audio_samples import silence_mulaw
from tests.fake_twilio import FakeTwilio

RECONNECT_BUDGET = 0.25 + 0.5 + 1.0 + 2.0 + 4.0
GIVE_UP_BOUND = RECONNECT_BUDGET + 1.5
"""Seconds from the drop to the first voiced frame of the can't-hear text: the backoff, five refused
handshakes, the text's TTS, and the shared event loop."""
TRANSFER_NUMBER = "+14155550199"


async def lose_stt_after_first_answer(line: Any) -> float:
    """Once the caller's first turn was answered, drop the STT socket and refuse reconnects; the drop's time."""
    while not line.openai.state.chat_requests:
        await asyncio.sleep(0.01)
    await asyncio.sleep(1.0)
    line.deepgram.state.reject_handshakes = 100
    dropped_at = time.monotonic()
    assert line.deepgram.state.drop_connections() == 1
    return dropped_at


async def call_losing_stt(line: Any, call_sid: str | None = None) -> tuple[Any, float]:
    """A caller who asks one thing, then stays on the line (silent) while recognition is lost."""
    line.deepgram.state.say("When are you open?")
    fault = asyncio.create_task(lose_stt_after_first_answer(line))
    result = await timed_call(line, [Say(speech()), Say(silence_mulaw(14.0))], call_sid=call_sid)
    return result, await fault


async def test_stt_lost_for_good_says_it_cant_hear_and_ends_the_call(line_factory: Any) -> None:
    line = await line_factory()
    result, dropped_at = await call_losing_stt(line)
    first, seconds = heard_after(result, dropped_at)
    assert first is not None and first < GIVE_UP_BOUND, first
    assert seconds > 0.5
    assert result.hung_up_by_agent
    row = await line.call_row(result.call_sid)
    assert row["end_reason"] == "stt_failed"
    texts = [t["text"] for t in await line.turns(result.call_sid)]
    assert texts[-1] == line.settings.calls.cant_hear_text
    assert line.deepgram.state.rejected_handshakes == 5
    assert await provider_errors(line, "stt", "failed") == 1
    assert await provider_errors(line, "stt", "dropped") == 5
    assert await shown_faults(line, result.call_sid) == [("stt", "dropped")] * 5 + [("stt", "failed")]


async def test_stt_lost_for_good_transfers_to_the_agents_number(fake_twilio: FakeTwilio, line_factory: Any) -> None:
    line = await line_factory(twilio=fake_twilio, transfer_number=TRANSFER_NUMBER)
    call_sid = fake_twilio.add_call()
    result, dropped_at = await call_losing_stt(line, call_sid)
    first, _ = heard_after(result, dropped_at)
    assert first is not None and first < GIVE_UP_BOUND, first
    assert fake_twilio.calls[call_sid]["twiml"] == [f"<Response><Dial>{TRANSFER_NUMBER}</Dial></Response>"]
    row = await line.call_row(call_sid)
    assert row["end_reason"] == "transferred" and row["transferred_to"] == TRANSFER_NUMBER
    calls = line.settings.calls
    texts = [t["text"] for t in await line.turns(call_sid)]
    assert texts[-1] == f"{calls.cant_hear_text} {calls.transfer_text}"


async def test_stt_unavailable_at_the_start_says_it_cant_hear_after_the_greeting(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.reject_handshakes = 1
    started = time.monotonic()
    result = await timed_call(line, [Say(silence_mulaw(5.0))])
    assert result.hung_up_by_agent
    cant_hear = line.settings.calls.cant_hear_text
    asked = next(r.at for r in line.deepgram.state.speak_requests if cant_hear.startswith(r.text))
    first, _ = heard_after(result, asked)
    assert first is not None and asked - started + first < 1.0, (asked - started, first)
    row = await line.call_row(result.call_sid)
    assert row["end_reason"] == "stt_failed"
    texts = [t["text"] for t in await line.turns(result.call_sid)]
    assert texts[-1] == cant_hear
    assert await provider_errors(line, "stt", "unavailable") == 1
    assert await shown_faults(line, result.call_sid) == [("stt", "unavailable")]
