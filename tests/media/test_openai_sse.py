"""The lean SSE chat client against the fake OpenAI server: text, tool calls, usage, errors, cancellation."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import pytest

from media.llm.base import LlmError, TextDelta, ToolCall, Usage
from media.llm.openai_sse import OpenAiSseChat
from tests.fake_openai import FakeOpenAi, ScriptedReply, ScriptedToolCall

MESSAGES = [{"role": "user", "content": "hi"}]


def client(http: aiohttp.ClientSession, fake: FakeOpenAi, **options: float) -> OpenAiSseChat:
    return OpenAiSseChat(http, "test-key", fake.base_url, **options)  # type: ignore[arg-type]


async def collect(llm: OpenAiSseChat) -> list[object]:
    return [event async for event in llm.stream_chat(MESSAGES, model="m", tools=[{"type": "function"}])]


async def test_text_streams_as_deltas_then_usage(http: aiohttp.ClientSession, fake_openai: FakeOpenAi) -> None:
    fake_openai.state.script("We open at nine. Bye.")
    events = await collect(client(http, fake_openai))
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "We open at nine. Bye."
    assert isinstance(events[-1], Usage) and events[-1].completion_tokens > 0
    sent = fake_openai.state.chat_requests[0]
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True} and sent["tools"]


@pytest.mark.parametrize("one_delta", [False, True])
async def test_tool_call_fragments_join_into_one_call(http: aiohttp.ClientSession, fake_openai: FakeOpenAi,
                                                     one_delta: bool) -> None:
    fake_openai.state.options.args_in_one_delta = one_delta
    fake_openai.state.options.tool_call_ids = not one_delta
    fake_openai.state.script(ScriptedReply(tool_calls=[ScriptedToolCall("book", {"day": "monday"})]))
    calls = [e for e in await collect(client(http, fake_openai)) if isinstance(e, ToolCall)]
    assert len(calls) == 1 and calls[0].name == "book" and calls[0].arguments == {"day": "monday"}
    assert calls[0].id


async def test_server_error_is_retried_once_then_raised(http: aiohttp.ClientSession, fake_openai: FakeOpenAi) -> None:
    fake_openai.state.script(ScriptedReply(status=503), ScriptedReply(status=503))
    with pytest.raises(LlmError) as failed:
        await collect(client(http, fake_openai))
    assert failed.value.status == 503 and failed.value.retryable
    assert len(fake_openai.state.chat_requests) == 2
    fake_openai.state.script(ScriptedReply(status=400))
    with pytest.raises(LlmError) as refused:
        await collect(client(http, fake_openai))
    assert refused.value.status == 400 and not refused.value.retryable


async def test_first_chunk_deadline(http: aiohttp.ClientSession, fake_openai: FakeOpenAi) -> None:
    fake_openai.state.options.first_token_delay = 1.0
    with pytest.raises(LlmError, match="no llm output"):
        await collect(client(http, fake_openai, first_chunk_timeout=0.1))


async def test_finished_streams_reuse_one_connection(http: aiohttp.ClientSession, fake_openai: FakeOpenAi) -> None:
    """A turn after a completed turn goes out on the same keep-alive connection (no new handshake)."""
    fake_openai.state.script("First answer.", "Second answer.")
    llm = client(http, fake_openai)
    await collect(llm)
    await collect(llm)
    first, second = fake_openai.state.chat_peer_ports
    assert first == second


async def test_cancelling_the_consumer_closes_the_http_stream(http: aiohttp.ClientSession,
                                                              fake_openai: FakeOpenAi) -> None:
    fake_openai.state.options.token_delay = 0.05
    fake_openai.state.script(" ".join(["word"] * 100))
    llm = client(http, fake_openai)

    async def consume() -> None:
        async with contextlib.aclosing(llm.stream_chat(MESSAGES, model="m")) as events:
            async for _ in events:
                pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    for _ in range(100):
        if fake_openai.state.streams_aborted:
            break
        await asyncio.sleep(0.02)
    assert fake_openai.state.streams_aborted == 1


@pytest.mark.parametrize("field", ["prompt_tokens_details", "prompt_cache_hit_tokens"])
async def test_usage_reports_prompt_tokens_served_from_the_providers_cache(
        http: aiohttp.ClientSession, fake_openai: FakeOpenAi, field: str) -> None:
    fake_openai.state.options.cached_tokens, fake_openai.state.options.cached_tokens_field = 1, field
    usage = [e for e in await collect(client(http, fake_openai)) if isinstance(e, Usage)]
    assert usage == [Usage(prompt_tokens=1, completion_tokens=6, cached_tokens=1)]
    whole = await client(http, fake_openai).complete(MESSAGES, model="m")
    assert whole.usage is not None and whole.usage.cached_tokens == 1


async def test_usage_without_cache_details_has_no_cached_tokens(http: aiohttp.ClientSession,
                                                               fake_openai: FakeOpenAi) -> None:
    usage = [e for e in await collect(client(http, fake_openai)) if isinstance(e, Usage)]
    assert usage[0].cached_tokens == 0 and Usage.from_wire({"prompt_tokens_details": None}).cached_tokens == 0
