"""A call's answer gets the knowledge base's excerpts in its last user turn, within the retrieval budget or not at all."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from structlog.testing import capture_logs

from media.llm.base import Message
from media.llm.references import Reference, split_references
from media.pipeline.grounding import CallGrounding

PARKING = Reference("Parking", "https://dentist.example/parking", "Park free in the garage.")
HISTORY: list[Message] = [{"role": "system", "content": "Be brief."},
                          {"role": "user", "content": "Do you have parking near the practice?"},
                          {"role": "assistant", "content": "Yes, a garage."},
                          {"role": "user", "content": "Is it free?"}]


async def test_the_last_turn_carries_the_excerpts_and_the_history_is_untouched() -> None:
    asked: list[tuple[str, str | None]] = []

    async def retrieve(turn: str, previous: str | None) -> Sequence[Reference]:
        asked.append((turn, previous))
        return [PARKING]

    grounded = await CallGrounding(retrieve, 0.5).ground(HISTORY)
    assert asked == [("Is it free?", "Do you have parking near the practice?")]
    assert grounded[:-1] == HISTORY[:-1] and HISTORY[-1]["content"] == "Is it free?"
    assert split_references(grounded[-1]["content"]) == ("Is it free?", [PARKING])


async def test_a_search_over_budget_is_skipped_and_logged() -> None:
    async def slow(turn: str, previous: str | None) -> Sequence[Reference]:
        await asyncio.sleep(0.5)
        return [PARKING]

    with capture_logs() as logs:
        assert await CallGrounding(slow, 0.02).ground(HISTORY) == HISTORY
    assert [(e["event"], e["reason"], e["budget_ms"]) for e in logs] == [("call_knowledge_skipped", "over budget", 20)]


async def test_a_failed_or_empty_search_leaves_the_request_as_it_was() -> None:
    async def broken(turn: str, previous: str | None) -> Sequence[Reference]:
        raise ConnectionError("pool closed")

    async def nothing(turn: str, previous: str | None) -> Sequence[Reference]:
        return []

    with capture_logs() as logs:
        assert await CallGrounding(broken, 0.5).ground(HISTORY) == HISTORY
    assert logs[0]["reason"] == "failed" and "pool closed" in logs[0]["error"]
    assert await CallGrounding(nothing, 0.5).ground(HISTORY) == HISTORY


async def test_a_request_not_ending_on_the_callers_words_is_not_searched() -> None:
    async def never(turn: str, previous: str | None) -> Sequence[Reference]:
        raise AssertionError("searched")

    after_tool: list[Message] = [*HISTORY, {"role": "tool", "tool_call_id": "t1", "content": "No transfers."}]
    assert await CallGrounding(never, 0.5).ground(after_tool) == after_tool
