"""The chat-completion interface: OpenAI-shaped messages in, a stream of typed events out.

Providers are async generators: cancel the consuming task (barge-in) or ``aclose()`` the
iterator (use ``contextlib.aclosing`` when breaking out early) and the provider's
``finally`` closes its HTTP stream so the server stops generating tokens we would pay for.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from media.llm.faq import FaqEntry

Message: TypeAlias = Mapping[str, Any]
"""An OpenAI chat message: ``{"role": "user", "content": "..."}``, tool calls and results alike."""
Tool: TypeAlias = Mapping[str, Any]
"""An OpenAI tool definition: ``{"type": "function", "function": {"name", "parameters", ...}}``."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the assistant's reply text."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A complete tool call, emitted once its arguments have fully arrived."""

    id: str
    name: str
    arguments: dict[str, Any] = field(hash=False)
    error: str | None = None
    """Why the arguments could not be read (not JSON, not an object): the call is answered, never run."""


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts for metering; absent when a compatible server does not report usage."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    """Prompt tokens the provider served from its prompt cache (billed at its cached-input price)."""

    @classmethod
    def from_wire(cls, usage: Mapping[str, Any]) -> Usage:
        """An OpenAI-shaped ``usage`` object: cached tokens from ``prompt_tokens_details.cached_tokens``, else
        DeepSeek's ``prompt_cache_hit_tokens``, else 0 (servers without a prompt cache report neither)."""
        details = usage.get("prompt_tokens_details")
        cached = details.get("cached_tokens") if isinstance(details, Mapping) else None
        if cached is None:
            cached = usage.get("prompt_cache_hit_tokens")
        return cls(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0), int(cached or 0))


LlmEvent: TypeAlias = TextDelta | ToolCall | Usage


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole (not streamed) answer's text and its token counts (None when the server reports none)."""

    text: str
    usage: Usage | None


class LlmError(Exception):
    """The completion failed.

    Attributes:
        status: HTTP status when the server answered with one.
        retryable: a retry may succeed (timeouts, 429, 5xx, dropped connections).
        timeout: the server didn't answer (or send a first token) in time, as opposed to failing.
    """

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False,
                 timeout: bool = False) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.timeout = timeout


class LlmProvider(abc.ABC):
    """One instance per process, shared by all calls and chats."""

    name: str

    @abc.abstractmethod
    def stream_chat(self, messages: Sequence[Message], *, model: str, temperature: float = 0.3,
                    tools: Sequence[Tool] | None = None, faq: Sequence[FaqEntry] = (),
                    max_tokens: int | None = None) -> AsyncGenerator[LlmEvent, None]:
        """Stream one assistant turn.

        Args:
            messages: the conversation so far, system prompt first.
            model: model name as the server knows it.
            temperature: sampling temperature.
            tools: tool definitions the model may call.
            faq: the agent's FAQ; only providers without a model (the local one) answer
                from it, real models get the FAQ through the system prompt.
            max_tokens: the most output tokens the model may write (sent as ``max_tokens``; None: the
                server's own limit). A token cap sets it.

        Returns:
            An async generator of :class:`TextDelta` and :class:`ToolCall` events, then a
            :class:`Usage` when the server reports one.

        Raises:
            LlmError: while iterating, when the request or the stream fails.
        """

    async def aclose(self) -> None:
        """Release process-wide resources (default: nothing to release)."""
        return None
