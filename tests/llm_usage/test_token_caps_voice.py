"""A call to an agent whose tokens are spent hears the limit text at the webhook: no stream, no hold."""

from __future__ import annotations

from typing import Any

from llm_usage import token_settings
from media.caller_simulator import Say, parse_twiml
from tests.audio_samples import silence_mulaw
from tests.calls.conftest import fake_twilio, line_factory, speech  # noqa: F401  (fixtures)
from tests.calls.test_twilio_voice import VOICE, post_signed, webhook_form
from tests.fake_twilio import FakeTwilio

MONTHLY = "Monthly token limit reached. Please upgrade your plan."


async def test_a_call_at_the_cap_hears_the_limit_and_is_hung_up_without_a_stream_or_hold(
        line_factory: Any) -> None:  # noqa: F811
    line = await line_factory()
    await token_settings.update(line.pool, line.agent_id, {"monthly_limit": 999})
    status, body = await post_signed(line, VOICE, webhook_form())
    assert status == 200
    url, _, said = parse_twiml(body)
    assert url is None and said == MONTHLY and "<Hangup" in body
    row = await line.call_row("CA" + "a" * 32)
    assert row["end_reason"] == "token_limit"
    assert await line.pool.fetchval("SELECT count(*) FROM holds") == 0
    assert line.openai.state.chat_requests == []


async def test_a_call_with_room_left_is_streamed(line_factory: Any) -> None:  # noqa: F811
    line = await line_factory()
    await token_settings.update(line.pool, line.agent_id, {"daily_limit": 1_000})
    url, _, refusal = parse_twiml((await post_signed(line, VOICE, webhook_form()))[1])
    assert url is not None and refusal is None


async def test_a_call_reaching_the_cap_hears_the_answer_in_full_then_at_its_next_turn_the_limit_and_goodbye(
        fake_twilio: FakeTwilio, line_factory: Any) -> None:  # noqa: F811
    """Room for one block of 1,050 tokens: the first answer leaves under 1,000 of it and no refill fits. The answer
    the model already wrote (within the block) is heard to its last sentence; the caller's next turn gets no model:
    the limit line and the goodbye, then the agent hangs up."""
    line = await line_factory(twilio=fake_twilio)
    call_sid = fake_twilio.add_call()
    await token_settings.update(line.pool, line.agent_id, {"monthly_limit": 1_050})
    answer = "We are open from nine to five. On Saturdays we open at ten. We are closed on Sundays."
    line.deepgram.state.say("What are your opening hours?", "And on holidays?")
    line.openai.state.script(answer, "Still here.")
    # The caller stays on the line after the goodbye (silent), so the hang-up is the agent's.
    result = await line.call([Say(speech()), Say(speech()), Say(silence_mulaw(5.0))], call_sid=call_sid)
    await line.settled()
    turns = [(t["role"], t["text"], t["interrupted"]) for t in await line.turns(call_sid)]
    assert turns[1:] == [("user", "What are your opening hours?", False), ("assistant", answer, False),
                         ("user", "And on holidays?", False),
                         ("assistant", f"{MONTHLY} {line.settings.calls.goodbye_text}", False)]
    assert result.hung_up_by_agent and fake_twilio.calls[call_sid]["status"] == "completed"
    assert (await line.call_row(call_sid))["end_reason"] == "token_limit"
    assert len(line.openai.state.chat_requests) == 1  # nothing asked after the cap
    budget = await line.pool.fetchrow("SELECT used, reserved FROM token_budgets WHERE period = 'month'")
    assert budget is not None and budget["reserved"] == 0 and 0 < budget["used"] < 1_050
