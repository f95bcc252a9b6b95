"""Where an answer's LLM stream is consumed: text deltas become whole sentences for TTS, tool calls
are kept on the reply, and a failed or silent request becomes the spoken apology.

The caller must never wait in silence on the model: no first token within the call's bound
(``[llm] first_token_timeout_seconds``), or no next one within the same bound once it streams,
closes the stream and says the apology. Sentences already released stay (they are being
spoken); the words of an unfinished sentence are dropped, so the history keeps what the caller
heard, apology included, and the caller's next words start a new turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Sequence

from media.call_records import LlmAttemptRecord
from media.llm.base import LlmError, LlmProvider, Message, TextDelta, Tool, ToolCall, Usage
from media.pipeline.faults import CallFaults
from media.pipeline.prompt import CALL_TOOLS, AgentProfile
from media.pipeline.reply import Reply, Sentences
from media.pipeline.telemetry import error_kind
from media.text.sentences import SentenceChunker


class LlmStage:
    """Streams one answer from the LLM into the reply's sentence queue.

    Args:
        llm: the process's LLM provider.
        profile: the answering agent (model, temperature, FAQ).
        apology_text: spoken instead when the LLM fails or falls silent.
        token_timeout: seconds allowed until the first token, and between tokens.
        faults: where provider failures are reported.
        loop: the call's event loop (its clock stamps the first token).
        tools: what the model is offered: the call tools, then the agent's (a fixed order: the prompt's prefix).
    """

    __slots__ = ("_llm", "_profile", "_apology_text", "_token_timeout", "_faults", "_loop", "tools")

    def __init__(self, llm: LlmProvider, profile: AgentProfile, apology_text: str, token_timeout: float,
                 faults: CallFaults, loop: asyncio.AbstractEventLoop, tools: Sequence[Tool] = CALL_TOOLS) -> None:
        self.tools = tools
        self._llm = llm
        self._profile = profile
        self._apology_text = apology_text
        self._token_timeout = token_timeout
        self._faults = faults
        self._loop = loop

    async def think(self, reply: Reply, messages: list[Message], sentences: Sentences, *,
                    tools: Sequence[Tool] | None = None) -> str | None:
        """Feed ``sentences`` as the LLM writes; stop early once the reply should end after a sentence.

        Returns:
            The text the model wrote (what the next request shows before its tool calls); None when the
            request failed and the apology was said instead.
        """
        profile = self._profile
        written: list[str] = []
        chunker = SentenceChunker()
        bound = self._token_timeout
        attempt = _Attempt(self._loop.time(), self._llm.name != "local")
        try:
            stream = self._llm.stream_chat(messages, model=profile.model, temperature=profile.temperature,
                                           tools=self.tools if tools is None else tools, faq=profile.faq)
            async with contextlib.aclosing(stream), asyncio.timeout(bound) as deadline:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        deadline.reschedule(self._loop.time() + bound)
                        attempt.output_chars += len(event.text)
                        written.append(event.text)
                        if reply.llm_first_token_at is None:
                            reply.llm_first_token_at = self._loop.time()
                        for sentence in chunker.feed(event.text):
                            await sentences.put(sentence)
                        if reply.stop_after_sentence:
                            return "".join(written)
                    elif isinstance(event, ToolCall):
                        deadline.reschedule(self._loop.time() + bound)
                        reply.tool_calls.append(event)
                    elif isinstance(event, Usage):
                        attempt.usage = event
            for sentence in chunker.flush():
                await sentences.put(sentence)
        except LlmError as exc:
            attempt.status, attempt.http_status = ("timeout" if exc.timeout else "error"), exc.status
            self._faults.report("llm", error_kind(exc.status), str(exc))
            await sentences.put(self._apology_text)
            return None
        except TimeoutError:
            attempt.status = "timeout"
            started = reply.llm_first_token_at is not None
            self._faults.report("llm", "stalled" if started else "timeout",
                                f"no {'next' if started else 'first'} token within {bound} s")
            await sentences.put(self._apology_text)
            return None
        finally:
            # Barged-in or stopped early, the model still wrote (and billed) what it sent: an `ok` row.
            self._faults.llm_attempt(attempt.record(profile.model, messages, reply.llm_first_token_at))
        return "".join(written)


class _Attempt:
    """What one answer's request to the model came to, for its `llm_requests` row."""

    __slots__ = ("started", "http", "status", "http_status", "output_chars", "usage")

    def __init__(self, started: float, http: bool) -> None:
        self.started = started
        self.http = http
        self.status = "ok"
        self.http_status: int | None = None
        self.output_chars = 0
        self.usage: Usage | None = None

    def record(self, model: str, messages: list[Message], first_token_at: float | None) -> LlmAttemptRecord:
        """The row; without a reported usage, tokens are estimated at 4 characters a token."""
        usage = self.usage or Usage(math.ceil(sum(len(str(m.get("content") or "")) for m in messages) / 4),
                                    math.ceil(self.output_chars / 4))
        http_status = self.http_status if self.status != "ok" else (200 if self.http else None)
        first_ms = None if first_token_at is None else max(0, round((first_token_at - self.started) * 1000))
        return LlmAttemptRecord(model, self.status, http_status, usage.prompt_tokens, usage.cached_tokens,
                                usage.completion_tokens, self.usage is None, first_ms)
