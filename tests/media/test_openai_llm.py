"""OpenAI-compatible chat provider against the fake OpenAI server."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest

from media.llm.base import LlmError, LlmEvent, TextDelta, ToolCall, Usage
from media.llm.openai_chat import OpenAiChat
from tests.fake_openai import FakeOpenAi, ScriptedReply, ScriptedToolCall

MESSAGES = [{"role": "system", "content": "You are a salon receptionist."},
            {"role": "user", "content": "Can I book Monday?"}]
TOOLS = [{"type": "function", "function": {"name": "book", "parameters": {"type": "object"}}}]


def _provider(fake: FakeOpenAi, **kwargs: Any) -> OpenAiChat:
    return OpenAiChat("test-key", fake.base_url, max_retries=0, **kwargs)


async def _collect(provider: OpenAiChat, **kwargs: Any) -> list[LlmEvent]:
    try:
        return [e async for e in provider.stream_chat(MESSAGES, model="m", **kwargs)]
    finally:
        await provider.aclose()


async def test_text_streams_as_deltas_then_usage(fake_openai: FakeOpenAi) -> None:
    """Reply text arrives in order as deltas, followed by the usage chunk; the request is well formed."""
    fake_openai.state.script("We open at nine. See you!")
    events = await _collect(_provider(fake_openai), temperature=0.2)
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "We open at nine. See you!"
    assert len([e for e in events if isinstance(e, TextDelta)]) == 6
    assert events[-1] == Usage(prompt_tokens=9, completion_tokens=6)
    request = fake_openai.state.chat_requests[0]
    assert request["stream"] is True and request["stream_options"] == {"include_usage": True}
    assert request["temperature"] == 0.2 and request["messages"] == MESSAGES and "tools" not in request
    assert fake_openai.state.authorizations == ["Bearer test-key"]


async def test_tool_calls_are_joined_from_fragments(fake_openai: FakeOpenAi) -> None:
    """Fragmented argument deltas become one ToolCall per call, in order, before Usage."""
    fake_openai.state.script(ScriptedReply(text="One moment.", tool_calls=[
        ScriptedToolCall("book", {"day": "monday", "time": "10:00"}, id="call_a"),
        ScriptedToolCall("notify", {"channel": "sms"}, id="call_b")]))
    events = await _collect(_provider(fake_openai), tools=TOOLS)
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert calls == [ToolCall("call_a", "book", {"day": "monday", "time": "10:00"}),
                     ToolCall("call_b", "notify", {"channel": "sms"})]
    assert isinstance(events[-1], Usage)
    assert fake_openai.state.chat_requests[0]["tools"] == TOOLS


async def test_compatible_server_quirks_are_tolerated(fake_openai: FakeOpenAi) -> None:
    """No usage chunk, whole arguments in one delta, and missing ids still give complete tool calls."""
    options = fake_openai.state.options
    options.send_usage, options.args_in_one_delta, options.tool_call_ids = False, True, False
    fake_openai.state.script(ScriptedReply(tool_calls=[ScriptedToolCall("book", {"day": "tue"}),
                                                       ScriptedToolCall("hangup", "")]))
    events = await _collect(_provider(fake_openai), tools=TOOLS)
    assert not any(isinstance(e, Usage | TextDelta) for e in events)
    book, hangup = events
    assert isinstance(book, ToolCall) and isinstance(hangup, ToolCall)
    assert (book.name, book.arguments, hangup.name, hangup.arguments) == ("book", {"day": "tue"}, "hangup", {})
    assert book.id.startswith("call_") and book.id != hangup.id


async def test_invalid_tool_arguments_arrive_as_the_calls_error(fake_openai: FakeOpenAi) -> None:
    """Arguments that are not a JSON object are neither a crash nor a failed stream: the call carries the error,
    so the tool runner tells the model (issue 23) instead of running it."""
    fake_openai.state.script(ScriptedReply(tool_calls=[ScriptedToolCall("book", '{"day": '),
                                                       ScriptedToolCall("list", "[1]")]))
    book, listed = [e for e in await _collect(_provider(fake_openai)) if isinstance(e, ToolCall)]
    assert isinstance(book, ToolCall) and isinstance(listed, ToolCall)
    assert (book.name, book.arguments, book.error) == ("book", {}, "the arguments are not valid JSON")
    assert listed.error == "the arguments must be a JSON object"


@pytest.mark.parametrize(("status", "retryable"), [(503, True), (429, True), (400, False), (401, False)])
async def test_error_status_becomes_typed_llm_error(fake_openai: FakeOpenAi, status: int, retryable: bool) -> None:
    """HTTP errors surface as LlmError with the status and whether a retry may help."""
    fake_openai.state.script(ScriptedReply(status=status, error_message="overloaded"))
    with pytest.raises(LlmError) as info:
        await _collect(_provider(fake_openai))
    assert (info.value.status, info.value.retryable) == (status, retryable)
    assert "overloaded" in str(info.value)


async def test_wrong_key_is_an_authentication_error(fake_openai: FakeOpenAi) -> None:
    """The fake checks the bearer key like the real API."""
    with pytest.raises(LlmError) as info:
        await _collect(OpenAiChat("nope", fake_openai.base_url, max_retries=0))
    assert info.value.status == 401


async def test_slow_first_chunk_hits_the_deadline(fake_openai: FakeOpenAi) -> None:
    """No output within first_chunk_timeout is a retryable LlmError, and the request is abandoned."""
    fake_openai.state.options.first_token_delay = 0.5
    with pytest.raises(LlmError, match="no llm output") as info:
        await _collect(_provider(fake_openai, first_chunk_timeout=0.2))
    assert info.value.retryable


async def test_unreachable_server_is_a_retryable_error() -> None:
    """A refused connection maps to a retryable LlmError."""
    provider = OpenAiChat("k", "http://127.0.0.1:9/v1", max_retries=0)
    with pytest.raises(LlmError) as info:
        await _collect(provider)
    assert info.value.retryable and info.value.status is None


async def test_cancelling_the_consumer_closes_the_http_stream(fake_openai: FakeOpenAi) -> None:
    """Barge-in: cancelling mid-reply closes the response so the server stops generating."""
    fake_openai.state.options.token_delay = 0.02
    fake_openai.state.script(" ".join(f"word{i}" for i in range(200)))
    provider = _provider(fake_openai)
    first = asyncio.Event()

    async def consume() -> None:
        async for event in provider.stream_chat(MESSAGES, model="m"):
            if isinstance(event, TextDelta):
                first.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first.wait(), 5)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    async with asyncio.timeout(5):
        while fake_openai.state.streams_aborted == 0:
            await asyncio.sleep(0.01)
    assert fake_openai.state.streams_completed == 0
    await provider.aclose()


async def test_breaking_out_with_aclosing_closes_the_http_stream(fake_openai: FakeOpenAi) -> None:
    """Leaving the loop early inside contextlib.aclosing also releases the response."""
    fake_openai.state.options.token_delay = 0.02
    fake_openai.state.script(" ".join(f"word{i}" for i in range(200)))
    provider = _provider(fake_openai)
    async with contextlib.aclosing(provider.stream_chat(MESSAGES, model="m")) as stream:
        async for event in stream:
            if isinstance(event, TextDelta):
                break
    async with asyncio.timeout(5):
        while fake_openai.state.streams_aborted == 0:
            await asyncio.sleep(0.01)
    await provider.aclose()


async def test_stream_broken_midway_is_a_retryable_llm_error(fake_openai: FakeOpenAi) -> None:
    """A connection cut after some tokens raises LlmError after the tokens that did arrive."""
    fake_openai.state.options.cut_after_deltas = 3
    fake_openai.state.script("one two three four five six")
    received: list[str] = []
    provider = _provider(fake_openai)
    with pytest.raises(LlmError) as info:
        async for event in provider.stream_chat(MESSAGES, model="m"):
            assert isinstance(event, TextDelta)
            received.append(event.text)
    await provider.aclose()
    assert info.value.retryable
    assert "".join(received) == "one two three"


async def test_usage_reports_prompt_tokens_served_from_the_providers_cache(fake_openai: FakeOpenAi) -> None:
    """The SDK client reads ``prompt_tokens_details.cached_tokens`` as the lean client does."""
    fake_openai.state.options.cached_tokens = 4
    events = await _collect(_provider(fake_openai))
    assert events[-1] == Usage(prompt_tokens=9, completion_tokens=6, cached_tokens=4)
