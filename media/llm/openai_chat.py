"""Streaming chat completions from OpenAI or any OpenAI-compatible server (vLLM, llama.cpp, Ollama).

One ``AsyncOpenAI`` client per process (it owns a connection pool). Phone latency rules the
settings: short timeouts, one retry (retries only happen before the first byte), and a
deadline on the first chunk. The stream consumer tolerates what compatible servers do
differently: no usage chunk, whole tool-call arguments in one delta, missing call ids.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, cast

import openai
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import ChoiceDeltaToolCall

from media.llm.base import Completion, LlmError, LlmEvent, LlmProvider, Message, TextDelta, Tool, ToolCall, Usage
from media.llm.faq import FaqEntry
from media.llm.toolbox import parse_call

DEFAULT_BASE_URL: Final = "https://api.openai.com/v1"


@dataclass(slots=True)
class _PendingCall:
    id: str | None
    name: str = ""
    arguments: list[str] = field(default_factory=list)


class ToolCallAssembler:
    """Joins streamed tool-call fragments by ``index`` into complete :class:`ToolCall`s."""

    def __init__(self) -> None:
        self._calls: list[_PendingCall] = []
        self._by_index: dict[int, int] = {}

    def add(self, fragment: ChoiceDeltaToolCall) -> None:
        """Merge one delta; a new id on a known index starts a new call (some servers reuse 0)."""
        pos = self._by_index.get(fragment.index)
        if pos is None or (fragment.id and self._calls[pos].id and fragment.id != self._calls[pos].id):
            self._calls.append(_PendingCall(id=fragment.id))
            pos = self._by_index[fragment.index] = len(self._calls) - 1
        call = self._calls[pos]
        if fragment.id:
            call.id = fragment.id
        function = fragment.function
        if function is not None:
            if function.name and not call.name:
                call.name = function.name
            if function.arguments:
                call.arguments.append(function.arguments)

    def drain(self) -> Iterator[ToolCall]:
        """Yield finished calls in order and forget them.

        Raises:
            LlmError: a call has no name (arguments that are not a JSON object travel as the call's `error`).
        """
        calls, self._calls, self._by_index = self._calls, [], {}
        for call in calls:
            yield _finish(call)


def _finish(call: _PendingCall) -> ToolCall:
    if not call.name:
        raise LlmError("tool call without a function name")
    return parse_call(call.id or f"call_{secrets.token_hex(12)}", call.name, "".join(call.arguments))


def _status_error(exc: openai.APIStatusError) -> LlmError:
    status = exc.status_code
    retryable = status in (408, 409, 429) or status >= 500
    return LlmError(f"llm server answered {status}: {exc.message}", status=status, retryable=retryable)


class OpenAiChat(LlmProvider):
    """OpenAI-compatible chat provider.

    Args:
        api_key: bearer key; compatible servers without auth still need some string.
        base_url: API root including ``/v1``.
        timeout: per-read/write seconds for the HTTP client.
        connect_timeout: seconds to connect.
        max_retries: SDK retries before the stream starts.
        first_chunk_timeout: seconds allowed until the first streamed chunk; None disables.
    """

    name = "openai"

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, *, timeout: float = 15.0,
                 connect_timeout: float = 3.0, max_retries: int = 1,
                 first_chunk_timeout: float | None = 10.0) -> None:
        self.client = openai.AsyncOpenAI(
            api_key=api_key or "EMPTY", base_url=base_url,
            timeout=openai.Timeout(timeout, connect=connect_timeout), max_retries=max_retries,
        )
        self.first_chunk_timeout = first_chunk_timeout

    async def aclose(self) -> None:
        """Close the client's connection pool."""
        await self.client.close()

    async def complete(self, messages: Sequence[Message], *, model: str, temperature: float = 0.0,
                       response_format: Mapping[str, Any] | None = None) -> Completion:
        """One whole (not streamed) answer, e.g. a JSON document under a `json_schema` response format.

        The server may ignore `response_format` (some compatible ones do): the caller checks the text.

        Raises:
            LlmError: the request failed or the answer holds no choice.
        """
        try:
            answer = await self.client.chat.completions.create(
                model=model, messages=cast(Any, list(messages)), temperature=temperature,
                response_format=cast(Any, dict(response_format)) if response_format else openai.omit)
        except openai.APIError as exc:
            raise _translate(exc, None) from exc
        if not answer.choices:
            raise LlmError("the llm answered with no choice")
        usage = answer.usage
        return Completion(answer.choices[0].message.content or "",
                          None if usage is None else Usage.from_wire(usage.model_dump()))

    async def stream_chat(self, messages: Sequence[Message], *, model: str, temperature: float = 0.3,
                          tools: Sequence[Tool] | None = None,
                          faq: Sequence[FaqEntry] = (), max_tokens: int | None = None,
                          ) -> AsyncGenerator[LlmEvent, None]:
        """Stream one turn; see :meth:`media.llm.base.LlmProvider.stream_chat`."""
        stream, chunks, first = await self._open(messages, model, temperature, tools, max_tokens)
        assembler = ToolCallAssembler()
        try:
            if first is not None:
                for event in self._events(first, assembler):
                    yield event
            async for chunk in chunks:
                for event in self._events(chunk, assembler):
                    yield event
            for call in assembler.drain():
                yield call
        except openai.APIStatusError as exc:
            raise _status_error(exc) from exc
        except openai.APIError as exc:
            raise LlmError(f"llm stream failed: {exc.message}", retryable=True) from exc
        finally:
            await stream.close()

    async def _open(self, messages: Sequence[Message], model: str, temperature: float,
                    tools: Sequence[Tool] | None, max_tokens: int | None = None) -> tuple[openai.AsyncStream[ChatCompletionChunk],
                                                           AsyncIterator[ChatCompletionChunk],
                                                           ChatCompletionChunk | None]:
        """Start the request and wait for the first chunk under the first-chunk deadline.

        Returns:
            The stream (to close), its chunk iterator (already advanced once) and the first chunk.
        """
        stream: openai.AsyncStream[ChatCompletionChunk] | None = None
        try:
            async with asyncio.timeout(self.first_chunk_timeout):
                stream = await self.client.chat.completions.create(
                    model=model, messages=cast(Any, list(messages)), stream=True,
                    stream_options={"include_usage": True}, temperature=temperature,
                    tools=cast(Any, list(tools)) if tools else openai.omit,
                    max_tokens=openai.omit if max_tokens is None else max_tokens,
                )
                chunks = aiter(stream)
                return stream, chunks, await anext(chunks, None)
        except BaseException as exc:
            if stream is not None:
                await stream.close()
            translated = _translate(exc, self.first_chunk_timeout)
            if translated is exc:
                raise
            raise translated from exc

    @staticmethod
    def _events(chunk: ChatCompletionChunk, assembler: ToolCallAssembler) -> Iterator[LlmEvent]:
        usage = chunk.usage
        if usage is not None:
            yield Usage.from_wire(usage.model_dump())
        for choice in chunk.choices[:1]:
            if choice.delta.content:
                yield TextDelta(choice.delta.content)
            for fragment in choice.delta.tool_calls or ():
                assembler.add(fragment)
            if choice.finish_reason is not None:
                yield from assembler.drain()


def _translate(exc: BaseException, first_chunk_timeout: float | None) -> BaseException:
    """Map SDK and deadline failures to LlmError; cancellation and the rest pass through."""
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc)
    if isinstance(exc, openai.APITimeoutError):
        return LlmError("llm request timed out", retryable=True, timeout=True)
    if isinstance(exc, openai.APIConnectionError):
        return LlmError(f"llm connection failed: {exc.message}", retryable=True)
    if isinstance(exc, TimeoutError):
        return LlmError(f"no llm output within {first_chunk_timeout} s", retryable=True, timeout=True)
    if isinstance(exc, openai.APIError):
        return LlmError(f"llm request failed: {exc.message}", retryable=True)
    return exc
