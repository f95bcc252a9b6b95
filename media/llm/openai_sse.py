"""Streaming chat completions from any OpenAI-compatible server over raw aiohttp SSE: the lean path for calls.

Measured against the local fake (``tests/fake_openai.py``) with a two-sentence reply, the
``openai`` SDK spends about 13 ms of CPU per streamed request (request building, pydantic
models per chunk) against about 1 ms for this client; on a server carrying many calls that
CPU is event-loop time every other call waits behind. Same wire, same events and errors
as :class:`media.llm.openai_chat.OpenAiChat`: one retry before the first byte, a deadline
on the first chunk, and tolerance for servers that omit usage or tool-call ids.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, Final

import aiohttp
import orjson

from media.llm.base import Completion, LlmError, LlmEvent, LlmProvider, Message, TextDelta, Tool, ToolCall, Usage
from media.llm.faq import FaqEntry
from media.llm.toolbox import parse_call

_RETRYABLE: Final = frozenset({408, 409, 429})


class _Calls:
    """Tool-call fragments joined by ``index`` (a new id on a known index starts a new call)."""

    def __init__(self) -> None:
        self._calls: list[dict[str, Any]] = []
        self._by_index: dict[int, int] = {}

    def add(self, fragment: dict[str, Any]) -> None:
        index, call_id = fragment.get("index", 0), fragment.get("id")
        pos = self._by_index.get(index)
        if pos is None or (call_id and self._calls[pos]["id"] and call_id != self._calls[pos]["id"]):
            self._calls.append({"id": call_id, "name": "", "args": []})
            pos = self._by_index[index] = len(self._calls) - 1
        call = self._calls[pos]
        call["id"] = call_id or call["id"]
        function = fragment.get("function") or {}
        if function.get("name") and not call["name"]:
            call["name"] = function["name"]
        if function.get("arguments"):
            call["args"].append(function["arguments"])

    def drain(self) -> Iterator[ToolCall]:
        calls, self._calls, self._by_index = self._calls, [], {}
        for call in calls:
            if not call["name"]:
                raise LlmError("tool call without a function name")
            yield parse_call(call["id"] or f"call_{secrets.token_hex(12)}", call["name"], "".join(call["args"]))


def chunk_events(chunk: dict[str, Any], calls: _Calls) -> Iterator[LlmEvent]:
    """The events in one decoded ``chat.completion.chunk``."""
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        yield Usage.from_wire(usage)
    choices = chunk.get("choices") or ()
    if not choices:
        return
    choice = choices[0]
    delta = choice.get("delta") or {}
    if delta.get("content"):
        yield TextDelta(delta["content"])
    for fragment in delta.get("tool_calls") or ():
        calls.add(fragment)
    if choice.get("finish_reason") is not None:
        yield from calls.drain()


class OpenAiSseChat(LlmProvider):
    """OpenAI-compatible chat provider on the process's aiohttp session.

    Args:
        session: the shared aiohttp session.
        api_key: bearer key (compatible servers without auth still get one).
        base_url: API root including ``/v1``.
        connect_timeout: seconds to connect.
        read_timeout: longest silence between streamed chunks.
        first_chunk_timeout: seconds allowed until the first chunk.
        max_retries: retries of a retryable failure before the first byte.
    """

    name = "openai"

    def __init__(self, session: aiohttp.ClientSession, api_key: str, base_url: str, *, connect_timeout: float = 3.0,
                 read_timeout: float = 15.0, first_chunk_timeout: float = 10.0, max_retries: int = 1) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key or 'EMPTY'}", "Accept": "text/event-stream"}
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=connect_timeout, sock_read=read_timeout)
        self.first_chunk_timeout = first_chunk_timeout
        self.max_retries = max_retries

    async def stream_chat(self, messages: Sequence[Message], *, model: str, temperature: float = 0.3,
                          tools: Sequence[Tool] | None = None,
                          faq: Sequence[FaqEntry] = (), max_tokens: int | None = None,
                          ) -> AsyncGenerator[LlmEvent, None]:
        """Stream one turn; see :meth:`media.llm.base.LlmProvider.stream_chat`."""
        body: dict[str, Any] = {"model": model, "messages": list(messages), "stream": True,
                                "stream_options": {"include_usage": True}, "temperature": temperature}
        if tools:
            body["tools"] = list(tools)
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        resp = await self._open(orjson.dumps(body))
        calls = _Calls()
        try:
            async for line in self._lines(resp):
                if not line.startswith(b"data:"):
                    continue
                data = line[5:].strip()
                if data == b"[DONE]":
                    break
                try:
                    chunk = orjson.loads(data)
                except orjson.JSONDecodeError:
                    raise LlmError("llm stream sent a malformed chunk") from None
                for event in chunk_events(chunk, calls):
                    yield event
            for call in calls.drain():
                yield call
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LlmError(f"llm stream failed: {exc!r}", retryable=True) from exc
        finally:
            resp.close()

    async def complete(self, messages: Sequence[Message], *, model: str, temperature: float = 0.0,
                       response_format: Mapping[str, Any] | None = None) -> Completion:
        """One whole answer, as :meth:`media.llm.openai_chat.OpenAiChat.complete` (the head within
        ``first_chunk_timeout``, the body within ``read_timeout``) without the SDK's request transform,
        which walks a JSON schema recursively on the event loop (a few ms a request for the analysis's).

        Raises:
            LlmError: the request failed, or the answer is not a chat completion with a choice.
        """
        body: dict[str, Any] = {"model": model, "messages": list(messages), "temperature": temperature}
        if response_format:
            body["response_format"] = response_format
        resp = await self._open(orjson.dumps(body))
        try:
            answer = orjson.loads(await resp.read())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LlmError(f"llm answer failed: {exc!r}", retryable=True) from exc
        except orjson.JSONDecodeError:
            raise LlmError("llm answer is not JSON") from None
        finally:
            resp.release()
        try:
            content = answer["choices"][0]["message"]["content"]
            usage = answer.get("usage")
            return Completion(str(content or ""), Usage.from_wire(usage) if isinstance(usage, dict) else None)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            raise LlmError("the llm answered with no choice") from None

    async def _lines(self, resp: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
        """The body's lines; the first must arrive within ``first_chunk_timeout``."""
        lines = aiter(resp.content)
        try:
            async with asyncio.timeout(self.first_chunk_timeout):
                first = await anext(lines, b"")
        except TimeoutError:
            raise LlmError(f"no llm output within {self.first_chunk_timeout} s", retryable=True,
                           timeout=True) from None
        yield first
        async for line in lines:
            yield line

    async def _open(self, body: bytes) -> aiohttp.ClientResponse:
        """POST and wait for the response head, retrying retryable failures before the first byte."""
        attempt = 0
        while True:
            try:
                async with asyncio.timeout(self.first_chunk_timeout):
                    resp = await self._session.post(self._url, data=body, headers=self._headers,
                                                    timeout=self._timeout)
            except TimeoutError:
                error = LlmError(f"no llm output within {self.first_chunk_timeout} s", retryable=True,
                                 timeout=True)
            except aiohttp.ClientError as exc:
                error = LlmError(f"llm connection failed: {exc!r}", retryable=True)
            else:
                if resp.status == 200:
                    return resp
                detail = (await resp.text())[:200]
                resp.release()
                retryable = resp.status in _RETRYABLE or resp.status >= 500
                error = LlmError(f"llm server answered {resp.status}: {detail}", status=resp.status,
                                 retryable=retryable)
            if not error.retryable or attempt >= self.max_retries:
                raise error
            attempt += 1
            await asyncio.sleep(0.2 * attempt)
