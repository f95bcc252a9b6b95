"""Building the model's messages, the FAQ short-cut, and fitting replies into one SMS."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass

import pytest

from conversations.conversation import ModelDefaults, Turn, answer, build_messages
from conversations.sms_reply import fit_sms
from media.llm.base import LlmError, LlmEvent, LlmProvider, Message, TextDelta, Tool, Usage
from media.llm.faq import FaqEntry


@dataclass(frozen=True)
class Agent:
    business_id: uuid.UUID = uuid.UUID(int=1)
    name: str = "Corner Dental"
    system_prompt: str = "You are the receptionist."
    model: str = ""
    temperature: float | None = None
    faq: tuple[FaqEntry, ...] = (FaqEntry("What are your opening hours?", "Nine to five."),)


class ScriptedLlm(LlmProvider):
    """Replies with fixed pieces and records what it was asked."""

    name = "scripted"

    def __init__(self, pieces: Sequence[str], usage: Usage | None = None) -> None:
        self.pieces, self.usage = pieces, usage
        self.calls: list[tuple[list[Message], str, float]] = []

    async def stream_chat(self, messages: Sequence[Message], *, model: str, temperature: float = 0.3,
                          tools: Sequence[Tool] | None = None,
                          faq: Sequence[FaqEntry] = (), max_tokens: int | None = None,
                          ) -> AsyncGenerator[LlmEvent, None]:
        self.calls.append((list(messages), model, temperature))
        for piece in self.pieces:
            yield TextDelta(piece)
        if self.usage is not None:
            yield self.usage


DEFAULTS = ModelDefaults("gpt-test", 0.4)


def test_messages_are_system_then_history_then_question() -> None:
    history = [Turn("user", "hi"), Turn("assistant", "hello")]
    messages = build_messages(Agent(), history, "book me", "sms")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    system = messages[0]["content"]
    assert "You are the receptionist." in system and "text message" in system and "Nine to five." in system


async def test_streamed_reply_reports_each_piece_and_the_usage() -> None:
    llm = ScriptedLlm(["Tues", "day ", "works."], Usage(12, 3))
    seen: list[str] = []

    async def on_delta(text: str) -> None:
        seen.append(text)

    reply = await answer(llm, Agent(), [], "can I come?", channel="widget", defaults=DEFAULTS, on_delta=on_delta)
    assert seen == ["Tues", "day ", "works."]
    assert (reply.text, reply.answered_by, reply.prompt_tokens, reply.completion_tokens) == (
        "Tuesday works.", "llm", 12, 3)
    assert llm.calls[0][1:] == ("gpt-test", 0.4)


async def test_faq_match_skips_the_model() -> None:
    llm = ScriptedLlm(["never"])
    reply = await answer(llm, Agent(), [], "When are you open? opening hours", channel="sms", defaults=DEFAULTS)
    assert (reply.text, reply.answered_by, reply.prompt_tokens) == ("Nine to five.", "faq", 0)
    assert llm.calls == []


async def test_missing_usage_is_estimated() -> None:
    reply = await answer(ScriptedLlm(["x" * 40]), Agent(), [], "hello", channel="sms", defaults=DEFAULTS)
    assert reply.completion_tokens == 10 and reply.prompt_tokens > 0


async def test_empty_reply_is_an_error() -> None:
    with pytest.raises(LlmError):
        await answer(ScriptedLlm(["  "]), Agent(), [], "hello", channel="sms", defaults=DEFAULTS)


def test_fit_sms_cuts_at_a_word_and_marks_the_cut() -> None:
    assert fit_sms("short", 160) == "short"
    cut = fit_sms("word " * 100, 50)
    assert len(cut) <= 50 and cut.endswith("…") and not cut.endswith(" …")
