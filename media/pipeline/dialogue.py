"""What was said on a call: the history the LLM sees and the turn records written for the call's log.

The agent's side is filed by what the caller heard, not by what was generated: a reply cut
by a barge-in enters both as its heard words only.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence

from media.call_records import CallRecorder, TurnRecord
from media.llm.base import Message, ToolCall
from media.llm.toolbox import ToolOutcome, assistant_calls, tool_result
from media.pipeline.reply import CONVERSATION_KINDS, Reply


class Dialogue:
    """The call's conversation so far.

    Args:
        recorder: writes turns and the call's end (None in unit tests without a database).
    """

    __slots__ = ("history", "_recorder")

    def __init__(self, recorder: CallRecorder | None) -> None:
        self.history: list[Message] = []
        """User and assistant turns as the LLM sees them."""
        self._recorder = recorder

    def caller_said(self, text: str, started: datetime.datetime) -> None:
        """The caller's turn (words, then keys pressed)."""
        self.history.append({"role": "user", "content": text})
        if self._recorder is not None:
            self._recorder.turn(TurnRecord("user", text, started))

    def agent_said(self, reply: Reply, *, interrupted: bool) -> None:
        """A reply is over: all of it when it played out, else the words the caller heard."""
        text = reply.playout.heard_text() if interrupted else reply.playout.full_text()
        if text and reply.kind in CONVERSATION_KINDS:
            self.history.append({"role": "assistant", "content": text})
        if text and self._recorder is not None:
            self._recorder.turn(TurnRecord("assistant", text, reply.started_at, interrupted=interrupted,
                                           server_latency_ms=reply.server_latency_ms,
                                           ear_latency_ms=reply.ear_latency_ms))

    def tool_answered(self, said: str, call: ToolCall, result: str) -> None:
        """The LLM called a tool the call answers in words (so the next request can react to it)."""
        self.history.append({"role": "assistant", "content": said or None,
                             "tool_calls": [{"id": call.id, "type": "function",
                                             "function": {"name": call.name, "arguments": "{}"}}]})
        self.history.append({"role": "tool", "tool_call_id": call.id, "content": result})

    def anchor(self) -> Message | None:
        """The last message so far: a tool round that starts now is filed right after it."""
        return self.history[-1] if self.history else None

    def tool_round(self, anchor: Message | None, said: str, calls: Sequence[ToolCall],
                   outcomes: Sequence[ToolOutcome]) -> None:
        """The agent's tool calls and their results, filed where the round started (after `anchor`): a
        barge-in may have moved the call on while the tool ran, and its result still belongs there."""
        at = next((i + 1 for i in range(len(self.history) - 1, -1, -1) if self.history[i] is anchor), 0)
        self.history[at:at] = [assistant_calls(said, calls),
                               *(tool_result(c, o) for c, o in zip(calls, outcomes, strict=True))]

    async def close(self, *, end_reason: str, duration_seconds: float, transferred_to: str | None) -> None:
        """Write the call's end (after the last turn)."""
        if self._recorder is not None:
            await self._recorder.close(end_reason=end_reason, duration_seconds=duration_seconds,
                                       transferred_to=transferred_to)
