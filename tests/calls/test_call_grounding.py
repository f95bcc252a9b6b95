"""Grounding on calls: a real call through the fakes, each answer's LLM request carrying the agent's best page."""

from __future__ import annotations

from typing import Any

from media.caller_simulator import Say
from media.llm.references import split_references
from tests.calls.conftest import speech
from tests.knowledge.published import dentist_site


async def test_each_callers_turn_is_answered_with_its_page_in_the_reference_block(line_factory: Any) -> None:
    # A generous budget: the test shows what reaches the model, not how fast a loaded machine searches.
    line = await line_factory(knowledge={"call_retrieval_budget_ms": 2000.0})
    await dentist_site(line.pool, line.tenant.business_id, line.agent_id)
    line.deepgram.state.say("Where can I park my car?", "Is it free?")
    line.openai.state.script("There is a garage under the practice.", "Yes, patients park free.")
    result = await line.call([Say(speech()), Say(speech())])
    await line.settled()
    assert result.refused_with is None and len(line.openai.state.chat_requests) == 2

    first, second = (r["messages"] for r in line.openai.state.chat_requests)
    words, references = split_references(first[-1]["content"])
    assert first[-1]["role"] == "user" and words == "Where can I park my car?"
    assert references[0].url == "https://dentist.example/parking"
    assert "Never read out web addresses (URLs)" in first[0]["content"]
    # The short follow-up is searched with the turn before it; the history keeps the caller's words alone.
    words, references = split_references(second[-1]["content"])
    assert words == "Is it free?" and references[0].url == "https://dentist.example/parking"
    assert second[-3] == {"role": "user", "content": "Where can I park my car?"}
    turns = await line.turns(result.call_sid)
    assert [t["text"] for t in turns if t["role"] == "user"] == ["Where can I park my car?", "Is it free?"]


async def test_an_agent_without_knowledge_answers_without_a_block(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("Where can I park my car?")
    line.openai.state.script("Behind the building.")
    await line.call([Say(speech())])
    await line.settled()
    assert line.openai.state.chat_requests[0]["messages"][-1] == {"role": "user", "content": "Where can I park my car?"}
