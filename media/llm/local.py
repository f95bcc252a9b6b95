"""The no-network LLM stand-in: answers from the agent's FAQ, else from the knowledge base, else a polite fallback.

It keeps a demo or a test call conversational without an account: the reply streams word
by word like a real model's so the sentence chunker and TTS see the same shape of input.
When the user's turn carries a reference block (the knowledge base's best excerpts, best
first), the answer is the first excerpt's opening sentences and the page it came from, by
title: a URL is never read out on a call or sent by SMS unasked, and the widget shows the
link in its sources anyway.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, Sequence
from typing import Final

from media.llm.base import LlmEvent, LlmProvider, Message, TextDelta, Tool, Usage
from media.llm.faq import DEFAULT_THRESHOLD, FaqEntry, match_faq
from media.llm.references import Reference, opening_sentences, split_references

DEFAULT_FALLBACK: Final = (
    "Sorry, I can't answer that right now. I can take a message and someone will get back to you."
)
_PIECE: Final = re.compile(r"\S+\s*")


def last_user_text(messages: Sequence[Message]) -> str:
    """The text of the most recent user message ('' when there is none)."""
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def from_reference(reference: Reference) -> str | None:
    """The excerpt's opening sentences and its source's title (None when the excerpt has no sentence)."""
    opening = opening_sentences(reference.content)
    if not opening:
        return None
    return f"{opening} Source: {reference.title.strip().rstrip('.')}."


class LocalLlm(LlmProvider):
    """FAQ-matching responder, answering from the knowledge base's best excerpt when no entry matches.

    Args:
        fallback: what to say when no FAQ entry matches.
        threshold: FAQ match threshold (see :func:`media.llm.faq.match_faq`).
    """

    name = "local"

    def __init__(self, *, fallback: str = DEFAULT_FALLBACK, threshold: float = DEFAULT_THRESHOLD) -> None:
        self.fallback = fallback
        self.threshold = threshold

    async def stream_chat(self, messages: Sequence[Message], *, model: str, temperature: float = 0.3,
                          tools: Sequence[Tool] | None = None,
                          faq: Sequence[FaqEntry] = (), max_tokens: int | None = None,
                          ) -> AsyncGenerator[LlmEvent, None]:
        """Stream the FAQ answer (or the best excerpt's, or the fallback) word by word, then a word-count Usage."""
        question, references = split_references(last_user_text(messages))
        reply = (match_faq(question, faq, self.threshold)
                 or next((a for r in references[:1] if (a := from_reference(r)) is not None), None)
                 or self.fallback)
        pieces = _PIECE.findall(reply)
        for piece in pieces:
            yield TextDelta(piece)
            await asyncio.sleep(0)
        prompt_words = sum(len(str(m.get("content") or "").split()) for m in messages)
        yield Usage(prompt_tokens=prompt_words, completion_tokens=len(pieces))
