"""Whole calls through the real app: the caller simulator on one side, fake Deepgram and OpenAI on the other."""

from __future__ import annotations

from typing import Any

from media.caller_simulator import Say
from tests.calls.conftest import GREETING, speech


async def test_two_turn_call_with_greeting(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("What are your opening hours?", "Thanks, bye.")
    line.openai.state.script("We open at nine.", "You are welcome.")
    result = await line.call([Say(speech()), Say(speech())])
    await line.settled()
    assert result.refused_with is None
    assert result.replies == 3 and result.clears == 0
    assert len(result.turn_latencies_ms) == 2
    turns = await line.turns(result.call_sid)
    assert [(t["role"], t["text"]) for t in turns] == [
        ("assistant", GREETING), ("user", "What are your opening hours?"), ("assistant", "We open at nine."),
        ("user", "Thanks, bye."), ("assistant", "You are welcome."),
    ]
    answers = [t for t in turns if t["role"] == "assistant"][1:]
    assert all(t["server_latency_ms"] is not None and t["ear_latency_ms"] is not None for t in answers)
    second = line.openai.state.chat_requests[1]["messages"]
    assert [m["role"] for m in second] == ["system", "assistant", "user", "assistant", "user"]
    row = await line.call_row(result.call_sid)
    assert row["end_reason"] == "caller_hung_up" and row["ended_at"] is not None
    assert line.deepgram.state.connections_opened == line.deepgram.state.connections_closed == 1
