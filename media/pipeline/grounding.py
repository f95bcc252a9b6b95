"""Grounding a call's answers: the caller's turn searched in the agent's knowledge within a small time budget.

The search itself lives above media (the knowledge base); the shell hands the call a
`Retrieve` callable, so the pipeline never imports it. Each answer to a caller's turn asks it
with the turn's words (and the caller's previous turn, which it joins when the new one is
short: "and on Sundays?"), and the excerpts go after the words in the same user message,
in the reference block chat and SMS use. A caller is waiting in silence meanwhile, so the
search gets `budget_seconds` (20 ms by default): beyond it the answer goes without excerpts
and the skip is logged. The history keeps the caller's words alone; only the request sent to
the model carries the block.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

from media.llm.base import Message
from media.llm.references import Reference, with_references

log = structlog.get_logger(__name__)

Retrieve = Callable[[str, str | None], Awaitable[Sequence[Reference]]]
"""``(turn, previous turn or None)`` -> the agent's best excerpts, best first."""


class CallGrounding:
    """Adds the knowledge base's excerpts to an answer's LLM request.

    Args:
        retrieve: the agent's knowledge search.
        budget_seconds: how long the caller's answer may wait for it.
    """

    __slots__ = ("_retrieve", "_budget")

    def __init__(self, retrieve: Retrieve, budget_seconds: float) -> None:
        self._retrieve = retrieve
        self._budget = budget_seconds

    async def ground(self, messages: list[Message]) -> list[Message]:
        """The request with the excerpts in its last user turn; unchanged when that is no caller's turn,
        nothing was found, or the search missed its budget or failed."""
        if not messages or messages[-1].get("role") != "user" or not isinstance(messages[-1].get("content"), str):
            return messages
        turn = str(messages[-1]["content"])
        previous = next((str(m["content"]) for m in reversed(messages[:-1])
                         if m.get("role") == "user" and isinstance(m.get("content"), str)), None)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self._budget):
                references = await self._retrieve(turn, previous)
        except TimeoutError:
            log.warning("call_knowledge_skipped", reason="over budget", budget_ms=round(self._budget * 1000))
            return messages
        except Exception as exc:  # a failed search costs the answer its excerpts, never the answer
            log.warning("call_knowledge_skipped", reason="failed", error=f"{type(exc).__name__}: {exc}")
            return messages
        log.debug("call_knowledge", excerpts=len(references), ms=round((time.perf_counter() - started) * 1000, 1))
        if not references:
            return messages
        return [*messages[:-1], {**messages[-1], "content": with_references(turn, references)}]
