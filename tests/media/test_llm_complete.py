"""Whole (not streamed) answers with a response format: the SDK client and the lean aiohttp client agree."""

from __future__ import annotations

import aiohttp
import pytest

from media.llm.base import Completion, LlmError, Usage
from media.llm.openai_chat import OpenAiChat
from media.llm.openai_sse import OpenAiSseChat
from tests.fake_openai import FakeOpenAi, ScriptedReply

FORMAT = {"type": "json_schema", "json_schema": {"name": "answer", "strict": True, "schema": {
    "type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": False}}}
MESSAGES = [{"role": "user", "content": "Is it ok?"}]


async def test_both_clients_send_the_response_format_and_read_the_same_answer(fake_openai: FakeOpenAi) -> None:
    key = fake_openai.state.options.api_key
    sdk = OpenAiChat(key, fake_openai.base_url)
    try:
        async with aiohttp.ClientSession() as session:
            lean = OpenAiSseChat(session, key, fake_openai.base_url)
            answers = [await client.complete(MESSAGES, model="m", response_format=FORMAT) for client in (sdk, lean)]
    finally:
        await sdk.aclose()
    assert answers == [Completion('{"ok":false}', Usage(3, 1))] * 2
    assert [r["response_format"] for r in fake_openai.state.chat_requests] == [FORMAT, FORMAT]
    assert all(not r.get("stream") for r in fake_openai.state.chat_requests)


async def test_a_server_that_ignores_the_format_answers_prose_and_errors_are_llm_errors(
        fake_openai: FakeOpenAi) -> None:
    fake_openai.state.options.ignore_response_format = True
    fake_openai.state.script(ScriptedReply(text="Yes, it is."), ScriptedReply(status=400))
    async with aiohttp.ClientSession() as session:
        lean = OpenAiSseChat(session, fake_openai.state.options.api_key, fake_openai.base_url)
        assert (await lean.complete(MESSAGES, model="m", response_format=FORMAT)).text == "Yes, it is."
        with pytest.raises(LlmError) as refused:
            await lean.complete(MESSAGES, model="m", response_format=FORMAT)
    assert refused.value.status == 400
