"""The process's LLM plus named OpenAI-compatible servers: a model written `NAME:MODEL` goes to server NAME.

Fallback models may live with another provider (`[llm.providers.NAME]`); the conversation code
just names the model, and this provider sends it where it belongs. A prefix that is not a
configured name is part of the model's own name (OpenAI's fine-tuned models are `ft:...`), so
such a model goes to the default server unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence

from media.llm.base import LlmEvent, LlmProvider, Message, Tool
from media.llm.faq import FaqEntry


class RoutedLlm(LlmProvider):
    def __init__(self, default: LlmProvider, named: Mapping[str, LlmProvider]) -> None:
        self.name = default.name
        self._default = default
        self._named = dict(named)

    def route(self, model: str) -> tuple[LlmProvider, str]:
        """The server that serves `model`, and the model's name as that server knows it."""
        name, sep, rest = model.partition(":")
        if sep and rest and name in self._named:
            return self._named[name], rest
        return self._default, model

    def stream_chat(self, messages: Sequence[Message], *, model: str, temperature: float = 0.3,
                    tools: Sequence[Tool] | None = None, faq: Sequence[FaqEntry] = (),
                    max_tokens: int | None = None) -> AsyncGenerator[LlmEvent, None]:
        provider, served = self.route(model)
        return provider.stream_chat(messages, model=served, temperature=temperature, tools=tools, faq=faq,
                                    max_tokens=max_tokens)

    async def aclose(self) -> None:
        for provider in (self._default, *self._named.values()):
            await provider.aclose()
