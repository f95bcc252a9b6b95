"""Requests start with a prefix providers can cache: the system message (prompt, channel rules, FAQ) and the tools
are byte-identical across conversations of one agent version and channel; what changes per turn (retrieved
knowledge) follows the history, in the last user turn."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from agent_server.config import Settings
from media.caller_simulator import Say
from tests.calls.conftest import line_factory, speech  # noqa: F401  (fixture)
from tests.conftest import MakeClient
from tests.fake_openai import FakeOpenAi
from tests.knowledge.published import dentist_site
from tests.messaging.conftest import Shop, messaging_settings, shop  # noqa: F401  (fixtures)
from tests.messaging.test_widget import ORIGIN


def prefix(request: dict[str, Any]) -> bytes:
    """The system message and tools as the fake received them, serialized the same way each time."""
    return orjson.dumps([request["messages"][0], request.get("tools")])


async def test_two_widget_conversations_share_the_system_message_and_tools_byte_for_byte(
        make_client: MakeClient, messaging_settings: Settings, fake_openai: FakeOpenAi, shop: Shop,  # noqa: F811
        pool: asyncpg.Pool) -> None:
    await dentist_site(pool, shop.business_id, shop.agent_id)
    client = await make_client(messaging_settings)
    for question in ("Where can I park my car?", "Are you open on Friday afternoons?"):
        resp = await client.post(f"/api/widget/{shop.agent_id}/message", headers=ORIGIN, json={"text": question})
        assert resp.status == 200, await resp.text()
    first, second = fake_openai.state.chat_requests
    assert first["messages"][0]["role"] == "system" and prefix(first) == prefix(second)
    assert "Mill Lane" not in first["messages"][0]["content"], "retrieved knowledge is not in the system message"
    last = first["messages"][-1]
    assert last["role"] == "user" and last["content"].startswith("Where can I park my car?") and "Mill Lane" in last[
        "content"]


async def test_two_calls_share_the_system_message_and_tools_byte_for_byte(line_factory: Any) -> None:  # noqa: F811
    line = await line_factory()
    for question in ("What are your opening hours?", "Can I book for Monday?"):
        line.deepgram.state.say(question)
        line.openai.state.script("Happy to help.")
        await line.call([Say(speech())])
        await line.settled()
    first, second = line.openai.state.chat_requests
    assert prefix(first) == prefix(second) and first["tools"]
    assert first["messages"][-1]["content"] != second["messages"][-1]["content"]
