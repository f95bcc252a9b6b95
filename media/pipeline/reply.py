"""One thing the agent says (the greeting, an answer, a goodbye) and the milestones measured on it."""

from __future__ import annotations

import asyncio
import datetime
from dataclasses import dataclass, field
from typing import Final, Protocol

from media.llm.base import ToolCall
from media.pipeline.playout import Playout

CONVERSATION_KINDS: Final = ("greeting", "answer", "apology")
"""Replies that are part of the conversation: the caller may interrupt them and the LLM sees
what was heard of them. A goodbye is neither."""

class Sentences(Protocol):
    """Where the LLM (or a fixed text) hands a reply's sentences to TTS."""

    async def put(self, sentence: str | None) -> None:
        """The next whole sentence; None closes the reply."""


@dataclass(slots=True)
class Reply:
    """One reply: its playout, the task producing it, what its LLM asked for, and its timings.

    Times ending in ``_at`` are event-loop seconds; ``speech_end_ms`` is on the caller's media
    clock (the stream's timestamps), which the at-the-ear latency is measured against.
    """

    id: int
    kind: str
    playout: Playout
    interruptible: bool
    task: asyncio.Task[None] | None = None
    tool_calls: list[ToolCall] = field(default_factory=list)
    done: bool = False
    stop_after_sentence: bool = False
    turn_end_at: float | None = None
    llm_first_token_at: float | None = None
    tts_first_byte_at: float | None = None
    speech_end_ms: int | None = None
    server_latency_ms: int | None = None
    ear_latency_ms: int | None = None
    started_at: datetime.datetime = field(default_factory=lambda: datetime.datetime.now(datetime.UTC))
