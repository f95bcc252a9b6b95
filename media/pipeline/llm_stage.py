"""Where an answer's LLM stream is consumed: text deltas become whole sentences for TTS, tool calls
are kept on the reply, and a failed request becomes the spoken apology."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from media.llm.base import LlmError, LlmProvider, Message, TextDelta, ToolCall
from media.pipeline.prompt import CALL_TOOLS, AgentProfile
from media.pipeline.reply import Reply, Sentences
from media.pipeline.telemetry import CallMetrics, error_kind
from media.text.sentences import SentenceChunker

log = structlog.get_logger(__name__)


class LlmStage:
    """Streams one answer from the LLM into the reply's sentence queue.

    Args:
        llm: the process's LLM provider.
        profile: the answering agent (model, temperature, FAQ).
        apology_text: spoken instead when the LLM fails.
        metrics: where provider errors are reported.
        loop: the call's event loop (its clock stamps the first token).
    """

    __slots__ = ("_llm", "_profile", "_apology_text", "_metrics", "_loop")

    def __init__(self, llm: LlmProvider, profile: AgentProfile, apology_text: str, metrics: CallMetrics,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._llm = llm
        self._profile = profile
        self._apology_text = apology_text
        self._metrics = metrics
        self._loop = loop

    async def think(self, reply: Reply, messages: list[Message], sentences: Sentences) -> None:
        """Feed ``sentences`` as the LLM writes; stop early once the reply should end after a sentence."""
        profile = self._profile
        chunker = SentenceChunker()
        try:
            stream = self._llm.stream_chat(messages, model=profile.model, temperature=profile.temperature,
                                           tools=CALL_TOOLS, faq=profile.faq)
            async with contextlib.aclosing(stream):
                async for event in stream:
                    if isinstance(event, TextDelta):
                        if reply.llm_first_token_at is None:
                            reply.llm_first_token_at = self._loop.time()
                        for sentence in chunker.feed(event.text):
                            await sentences.put(sentence)
                        if reply.stop_after_sentence:
                            return
                    elif isinstance(event, ToolCall):
                        reply.tool_calls.append(event)
            for sentence in chunker.flush():
                await sentences.put(sentence)
        except LlmError as exc:
            log.warning("llm_failed", error=str(exc), status=exc.status)
            self._metrics.provider_error("llm", error_kind(exc.status))
            await sentences.put(self._apology_text)
