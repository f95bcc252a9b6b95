"""A call's answers are `llm_requests` rows of channel voice, written by the call's background recorder."""

from __future__ import annotations

from typing import Any

from media.caller_simulator import Say
from tests.calls.conftest import speech
from tests.fake_openai import ScriptedReply


async def test_a_call_turn_is_a_voice_row_with_its_tokens_and_no_charge(line_factory: Any) -> None:
    line = await line_factory()
    line.openai.state.options.cached_tokens = 2
    line.deepgram.state.say("What are your opening hours?")
    line.openai.state.script("We open at nine.")
    result = await line.call([Say(speech())])
    await line.settled()
    call = await line.call_row(result.call_sid)
    rows = [dict(r) for r in await line.pool.fetch("SELECT * FROM llm_requests")]
    assert len(rows) == 1
    row = rows[0]
    assert (row["channel"], row["call_sid"], row["conversation_id"], row["agent_id"]) == (
        "voice", result.call_sid, call["id"], line.agent_id)
    assert (row["status"], row["http_status"], row["attempt"], row["estimated"], row["ledger_key"]) == (
        "ok", 200, 1, False, None)
    assert row["input_tokens"] > 0 and row["cached_tokens"] == 2 and row["output_tokens"] == 4
    assert row["provider_cost_micros"] is not None and row["first_token_ms"] is not None


async def test_a_failed_call_answer_is_an_error_row(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("Can I book a table?")
    line.openai.state.script(ScriptedReply(status=400))
    result = await line.call([Say(speech())])
    await line.settled()
    rows = await line.pool.fetch("SELECT status, http_status, input_tokens FROM llm_requests WHERE call_sid = $1",
                                 result.call_sid)
    assert [(r["status"], r["http_status"]) for r in rows] == [("error", 400)]
