"""A call to an agent whose tokens are spent hears the limit text at the webhook: no stream, no hold."""

from __future__ import annotations

from typing import Any

from llm_usage import token_settings
from media.caller_simulator import Say, parse_twiml
from tests.calls.conftest import fake_twilio, line_factory, speech  # noqa: F401  (fixtures)
from tests.calls.test_twilio_voice import VOICE, post_signed, webhook_form

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


async def test_a_call_reaching_the_cap_hears_the_limit_then_goodbye_and_ends_with_token_limit(
        line_factory: Any) -> None:  # noqa: F811
    """Room for one block of 1,050 tokens: the first answer leaves under 1,000 of it and no refill fits, so
    the limit line and the goodbye take the place of what was still to be said."""
    line = await line_factory()
    await token_settings.update(line.pool, line.agent_id, {"monthly_limit": 1_050})
    line.deepgram.state.say("What are your opening hours?", "Hello?")
    line.openai.state.script("We are open from nine to five.", "Still here.")
    result = await line.call([Say(speech()), Say(speech())])
    await line.settled()
    turns = [t["text"] for t in await line.turns(result.call_sid) if t["role"] == "assistant"]
    assert turns[-1] == f"{MONTHLY} {line.settings.calls.goodbye_text}"
    assert (await line.call_row(result.call_sid))["end_reason"] == "token_limit"
    assert len(line.openai.state.chat_requests) == 1  # nothing asked after the cap
    budget = await line.pool.fetchrow("SELECT used, reserved FROM token_budgets WHERE period = 'month'")
    assert budget is not None and budget["reserved"] == 0 and 0 < budget["used"] < 1_050
