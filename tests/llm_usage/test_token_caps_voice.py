"""A call to an agent whose tokens are spent hears the limit text at the webhook: no stream, no hold."""

from __future__ import annotations

from typing import Any

from llm_usage import token_settings
from media.caller_simulator import parse_twiml
from tests.calls.conftest import fake_twilio, line_factory  # noqa: F401  (fixtures)
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
