"""The tools a conversation offers its model, behind one interface every channel's runner calls.

The shell composes one `ToolBox` per agent (forms, the handoff ticket, the business's actions);
the chat channels' runner (`conversations.tool_rounds`) and a call's tool task
(`media.pipeline.tool_turns`) only see this interface, so no lower floor imports what fills it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

from media.llm.base import Message, Tool, ToolCall

MAX_RESULT_CHARS: Final = 4_000
"""The most of a tool's answer the model reads back (the issue's bound): a long one is cut, and says so."""
_CUT = "… [cut]"


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    """What a tool answered, as the model will read it; `ok` False when it failed or refused the call."""

    content: str
    ok: bool = True


class ToolBox(Protocol):
    """An agent's tools for one conversation."""

    def definitions(self) -> Sequence[Tool]:
        """The tools in a fixed order (by name), byte-identical for every conversation of an agent version."""
        ...

    async def run(self, call: ToolCall, key: str) -> ToolOutcome:
        """Run one call; `key` (`conversation:tool_call_id`) makes a retry act once. Never raises for a bad call:
        the outcome tells the model what was wrong."""
        ...


class NoTools:
    """The empty toolbox: the model is offered nothing."""

    def definitions(self) -> Sequence[Tool]:
        return ()

    async def run(self, call: ToolCall, key: str) -> ToolOutcome:
        return refused(call, "no such tool")


def refused(call: ToolCall, reason: str) -> ToolOutcome:
    """A call that ran nothing, said as data the model can act on."""
    return ToolOutcome(json.dumps({"ok": False, "tool": call.name, "error": reason}), ok=False)


def clipped(content: str) -> str:
    """`content` as the model may read it: at most `MAX_RESULT_CHARS` characters."""
    if len(content) <= MAX_RESULT_CHARS:
        return content
    return content[: MAX_RESULT_CHARS - len(_CUT)] + _CUT


def assistant_calls(text: str, calls: Sequence[ToolCall]) -> Message:
    """The assistant message that asked for `calls` (what the next request must show before their results)."""
    return {"role": "assistant", "content": text or None,
            "tool_calls": [{"id": c.id, "type": "function",
                            "function": {"name": c.name, "arguments": json.dumps(c.arguments)}} for c in calls]}


def tool_result(call: ToolCall, outcome: ToolOutcome) -> Message:
    return {"role": "tool", "tool_call_id": call.id, "content": clipped(outcome.content)}


def parse_call(call_id: str, name: str, raw: str) -> ToolCall:
    """A streamed call's joined arguments as a `ToolCall`; arguments that are not a JSON object don't fail the
    stream: the call carries `error`, and the runner tells the model instead of running it."""
    try:
        arguments: Any = json.loads(raw.strip() or "{}")
    except ValueError:
        return ToolCall(call_id, name, {}, error="the arguments are not valid JSON")
    if not isinstance(arguments, dict):
        return ToolCall(call_id, name, {}, error="the arguments must be a JSON object")
    return ToolCall(call_id, name, arguments)
