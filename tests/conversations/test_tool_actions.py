"""The business's actions as tools on text channels: keyed `conversation:tool_call_id`, offered in the same order to
every conversation of the agent, answers cut to 4,000 characters."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import pytest

from conversations.tool_rounds import Asked, RoundMeter, ToolRounds, run_rounds
from llm_usage.requests import Attempt
from media.llm.base import Message, Tool, ToolCall, Usage
from media.llm.toolbox import MAX_RESULT_CHARS, ToolOutcome
from tests.conftest import MakeBusiness, MakeSettings
from tests.conversations.tool_world import OUR_NUMBER, SENDER, Bakery, Client, bakery, start, text, tool_settings
from tests.fake_openai import FakeOpenAi, ScriptedReply, ScriptedToolCall
from tests.fake_webhook_receiver import FakeWebhookReceiver


@pytest.fixture
async def shop(pool: asyncpg.Pool, make_business: MakeBusiness) -> Bakery:
    return await bakery(pool, make_business)


@pytest.fixture
async def client(make_settings: MakeSettings, fake_openai: FakeOpenAi, aiohttp_client: Any, shop: Bakery) -> Client:
    return await start(tool_settings(make_settings, fake_openai), aiohttp_client)


@pytest.fixture
async def receiver() -> AsyncIterator[FakeWebhookReceiver]:
    async with FakeWebhookReceiver() as started:
        yield started


async def _lead_action(client: Client, shop: Bakery, url: str) -> None:
    body = {"type": "webhook_call", "name": "push_lead", "description": "Send the lead to the CRM",
            "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            "configuration": {"url": url}}
    resp = await client.post(f"/api/agents/{shop.agent_id}/actions", json=body, headers=shop.headers)
    assert resp.status == 201, await resp.text()


async def test_a_whatsapp_action_runs_once_keyed_by_the_conversation_and_the_tool_call(
        client: Client, shop: Bakery, fake_openai: FakeOpenAi, receiver: FakeWebhookReceiver,
        pool: asyncpg.Pool) -> None:
    await _lead_action(client, shop, receiver.url("/echo"))
    fake_openai.state.script(ScriptedReply(tool_calls=[ScriptedToolCall("push_lead", {"name": "Ann"}, id="call_lead")]),
                             "Sent to our team.")
    assert await text(client, "I'm Ann, call me", sender="whatsapp:" + SENDER,
                      to="whatsapp:" + OUR_NUMBER) == "Sent to our team."
    row = await pool.fetchrow("SELECT channel, conversation_id, idempotency_key, status FROM action_executions")
    assert row is not None
    assert (row["channel"], row["status"]) == ("whatsapp", "succeeded")
    assert row["idempotency_key"] == f"{row['conversation_id']}:call_lead"
    assert len(receiver.on("/echo")) == 1


async def test_every_conversation_of_the_agent_is_offered_the_same_tools_in_the_same_order(
        client: Client, shop: Bakery, fake_openai: FakeOpenAi, receiver: FakeWebhookReceiver) -> None:
    await _lead_action(client, shop, receiver.url("/ok"))
    fake_openai.state.script("Hi Ann.", "Hi Bob.")
    await text(client, "hello, Ann here")
    await text(client, "hello, Bob here", sender="+14155550999")
    first, second = (r["tools"] for r in fake_openai.state.chat_requests)
    assert first == second and [t["function"]["name"] for t in first] == ["open_ticket", "push_lead"]


class _Wordy:
    """A toolbox whose one tool answers 10,000 characters."""

    def definitions(self) -> Sequence[Tool]:
        return ({"type": "function", "function": {"name": "wordy", "parameters": {"type": "object"}}},)

    async def run(self, call: ToolCall, key: str) -> ToolOutcome:
        return ToolOutcome("x" * 10_000)


class _FreeMeter(RoundMeter):
    """Nothing held or charged (the runner's rounds alone are under test)."""

    def __init__(self) -> None:
        self.paid_rounds = 0

    async def paid(self, usage: Usage, attempts: list[Attempt]) -> None:
        self.paid_rounds += 1


async def test_a_tool_answer_reaches_the_model_cut_to_4000_characters() -> None:
    requests: list[list[Message]] = []

    async def ask(request: Sequence[Message], offered: Sequence[Tool] | None, notes: list[Attempt]) -> Asked:
        requests.append(list(request))
        calls = [ToolCall("c1", "wordy", {})] if len(requests) == 1 else []
        return Asked("" if calls else "Done.", Usage(10, 2), calls, notes, "m")

    meter = _FreeMeter()
    answered = await run_rounds(ask, [{"role": "user", "content": "go"}], ToolRounds(_Wordy(), "conv", meter))
    assert answered.text == "Done." and meter.paid_rounds == 1
    result = requests[1][-1]
    assert result["role"] == "tool" and len(result["content"]) == MAX_RESULT_CHARS
    assert result["content"].endswith("[cut]")
