"""A call runs with the agent version it was admitted with; an edit applies from the next call (issue 22)."""

from __future__ import annotations

import asyncio
from typing import Any

from media.caller_simulator import Say
from media.pipeline.hooks import CallControl, CallInfo, CallOutcome
from agent_server.state import CALL_HOOKS
from tests.calls.conftest import Line, speech

OLD_PROMPT = "You answer the phone for Acme."
NEW_PROMPT = "You answer the phone for Acme Deluxe, in rhyme."


def system_prompts(line: Line) -> list[str]:
    """The system message of each chat request the fake model received, in order."""
    return [str(r["messages"][0]["content"]) for r in line.openai.state.chat_requests]


async def edit_prompt(line: Line, prompt: str) -> None:
    async with line.client.patch(f"/api/agents/{line.agent_id}", json={"systemPrompt": prompt},
                                 headers=line.tenant.headers) as resp:
        assert resp.status == 200, await resp.text()


class EditWhileRinging:
    """Saves an edit after the webhook admitted the call and before its stream starts."""

    def __init__(self, line: Line) -> None:
        self.line = line

    async def admit(self, call: CallInfo) -> str | None:
        await edit_prompt(self.line, NEW_PROMPT)
        return None

    async def call_started(self, call: CallControl) -> None:
        return None

    async def call_ended(self, call: CallControl, outcome: CallOutcome) -> None:
        return None


async def test_edit_mid_call_keeps_the_calls_prompt_and_the_next_call_gets_the_new_one(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("What are your opening hours?", "And on Sundays?")
    line.openai.state.script("We open at nine.", "Closed on Sundays.", "We open at nine.")
    placed = asyncio.create_task(line.call([Say(speech()), Say(speech())]))
    for _ in range(500):
        if line.openai.state.chat_requests or placed.done():
            break
        await asyncio.sleep(0.01)
    await edit_prompt(line, NEW_PROMPT)
    first = await placed
    await line.settled()
    assert len(system_prompts(line)) == 2
    assert all(OLD_PROMPT in p and NEW_PROMPT not in p for p in system_prompts(line))
    line.deepgram.state.say("What are your opening hours?")
    second = await line.call([Say(speech())])
    await line.settled()
    assert NEW_PROMPT in system_prompts(line)[-1]
    assert (await line.call_row(first.call_sid))["agent_version"] == 1
    assert (await line.call_row(second.call_sid))["agent_version"] == 2


async def test_edit_between_webhook_and_stream_does_not_reach_the_admitted_call(line_factory: Any) -> None:
    line = await line_factory()
    editor = EditWhileRinging(line)
    line.client.app[CALL_HOOKS].add(editor)
    line.deepgram.state.say("What are your opening hours?")
    line.openai.state.script("We open at nine.")
    result = await line.call([Say(speech())])
    await line.settled()
    [prompt] = system_prompts(line)
    assert OLD_PROMPT in prompt and NEW_PROMPT not in prompt
    assert (await line.call_row(result.call_sid))["agent_version"] == 1
