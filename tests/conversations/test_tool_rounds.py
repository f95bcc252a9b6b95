"""The model's tool calls on the widget, SMS and WhatsApp: forms, the handoff ticket, rounds, parallel calls, bad JSON."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import orjson
import pytest

from mail import outbox
from tests.conftest import MakeBusiness, MakeSettings
from tests.conversations.tool_world import (
    ORIGIN,
    SENDER,
    Bakery,
    Client,
    bakery,
    cake_form,
    start,
    text,
    tool_messages,
    tool_settings,
    widget_turn,
)
from tests.fake_openai import FakeOpenAi, ScriptedReply, ScriptedToolCall

ANN = {"name": "Ann", "email": "ann@example.com", "size": "large"}


@pytest.fixture
async def shop(pool: asyncpg.Pool, make_business: MakeBusiness) -> Bakery:
    return await bakery(pool, make_business)


@pytest.fixture
async def client(make_settings: MakeSettings, fake_openai: FakeOpenAi, aiohttp_client: Any, shop: Bakery) -> Client:
    return await start(tool_settings(make_settings, fake_openai), aiohttp_client)


def _names(request: dict[str, Any]) -> list[str]:
    return [t["function"]["name"] for t in request.get("tools") or []]


async def test_a_widget_form_call_submits_once_with_its_email_and_webhook_and_each_request_is_charged(
        client: Client, shop: Bakery, fake_openai: FakeOpenAi, pool: asyncpg.Pool) -> None:
    form_id = await cake_form(client, shop)
    fake_openai.state.script(ScriptedReply(text="Let me note that.", tool_calls=[
        ScriptedToolCall("form_cake_order", ANN, id="call_cake")]), "Your cake order is in.")
    async with client.ws_connect(f"/api/widget/{shop.agent_id}/ws", headers=ORIGIN) as ws:
        frames = await widget_turn(ws, "A large cake for Ann, ann@example.com")
    assert frames[-1]["type"] == "done", frames
    assert "".join(f["text"] for f in frames if f["type"] == "delta") == "Let me note that. Your cake order is in."
    conversation = uuid.UUID(frames[-1]["conversationId"])
    first, second = fake_openai.state.chat_requests
    assert _names(first) == _names(second) == ["form_cake_order", "open_ticket"]
    assert first["tools"] == second["tools"]
    (result,) = tool_messages(second)
    assert result["tool_call_id"] == "call_cake" and result["content"]["submitted"] is True
    row = await pool.fetchrow("SELECT * FROM form_submissions")
    assert row is not None
    assert (str(row["form_id"]), row["channel"], row["conversation_id"]) == (form_id, "widget", conversation)
    assert str(row["id"]) == result["content"]["submissionId"]
    assert row["data"] == ANN
    (email,) = await outbox.list_emails(pool)
    assert (email.template, email.recipient) == ("form_submission", "orders@bakery.example")
    hook = orjson.loads(await pool.fetchval("SELECT body FROM webhook_messages"))
    assert hook["data"]["submission_id"] == str(row["id"])
    assert hook["data"]["conversation_id"] == str(conversation)
    keys = [r["idempotency_key"] for r in await pool.fetch(
        "SELECT idempotency_key FROM ledger_entries WHERE kind = 'chat_usage' ORDER BY id")]
    assert len(keys) == 2 and keys[1].endswith(":round2") and keys[1].startswith(keys[0])
    assert await pool.fetchval("SELECT count(*) FROM llm_requests WHERE status = 'ok'") == 2


async def test_an_sms_bad_email_goes_back_to_the_model_per_field_and_the_fixed_call_submits_once(
        client: Client, shop: Bakery, fake_openai: FakeOpenAi, pool: asyncpg.Pool) -> None:
    await cake_form(client, shop)
    fake_openai.state.script(
        ScriptedReply(tool_calls=[ScriptedToolCall("form_cake_order", {**ANN, "email": "ann at example"})]),
        ScriptedReply(tool_calls=[ScriptedToolCall("form_cake_order", ANN)]),
        "Done: we'll call you back.")
    assert await text(client, "Cake for Ann please, ann at example") == "Done: we'll call you back."
    _, second, third = fake_openai.state.chat_requests
    (refused,) = tool_messages(second)
    assert refused["content"]["submitted"] is False
    assert [e["field"] for e in refused["content"]["errors"]] == ["email"]
    (accepted,) = tool_messages(third)[1:]
    assert accepted["content"]["submitted"] is True
    assert await pool.fetchval("SELECT count(*) FROM form_submissions") == 1
    assert await pool.fetchval("SELECT channel FROM form_submissions") == "sms"
    # The reply's own price pays the first request, the two after it are chat requests; no hold is left open,
    # and each request has its one llm_requests row.
    kinds = [r["kind"] for r in await pool.fetch("SELECT kind FROM ledger_entries WHERE amount < 0 ORDER BY id")]
    assert sorted(kinds) == ["chat_usage", "chat_usage", "sms_usage"]
    assert await pool.fetchval("SELECT count(*) FROM holds WHERE status = 'open'") == 0
    assert await pool.fetchval("SELECT count(*) FROM llm_requests WHERE status = 'ok'") == 3


async def test_parallel_calls_in_one_round_each_get_their_result(
        client: Client, shop: Bakery, fake_openai: FakeOpenAi, pool: asyncpg.Pool) -> None:
    await cake_form(client, shop)
    fake_openai.state.script(ScriptedReply(tool_calls=[
        ScriptedToolCall("form_cake_order", ANN, id="call_a"),
        ScriptedToolCall("open_ticket", {"summary": "Wants a cake tasting"}, id="call_b")]), "All set.")
    assert await text(client, "Order a cake and ask about a tasting") == "All set."
    results = {r["tool_call_id"]: r["content"] for r in tool_messages(fake_openai.state.chat_requests[1])}
    assert results["call_a"]["submitted"] is True
    assert results["call_b"].startswith("Ticket T-")
    assert await pool.fetchval("SELECT requester_phone FROM support_tickets") == SENDER


async def test_invalid_json_arguments_are_an_error_to_the_model_and_run_nothing(
        client: Client, shop: Bakery, fake_openai: FakeOpenAi, pool: asyncpg.Pool) -> None:
    await cake_form(client, shop)
    fake_openai.state.script(ScriptedReply(tool_calls=[ScriptedToolCall("form_cake_order", '{"name": ')]),
                             "Sorry, could you repeat your details?")
    assert await text(client, "cake") == "Sorry, could you repeat your details?"
    (result,) = tool_messages(fake_openai.state.chat_requests[1])
    assert result["content"] == {"ok": False, "tool": "form_cake_order", "error": "the arguments are not valid JSON"}
    assert await pool.fetchval("SELECT count(*) FROM form_submissions") == 0


async def test_a_fourth_round_of_calls_is_refused_and_the_model_must_answer_without_tools(
        client: Client, shop: Bakery, fake_openai: FakeOpenAi, pool: asyncpg.Pool) -> None:
    call = ScriptedToolCall("open_ticket", {"summary": "Call me back"})
    fake_openai.state.script(*(ScriptedReply(tool_calls=[call]) for _ in range(4)), "I opened a ticket for you.")
    assert await text(client, "Please have someone call me") == "I opened a ticket for you."
    requests = fake_openai.state.chat_requests
    assert len(requests) == 5
    assert all(_names(r) == ["open_ticket"] for r in requests[:4]) and "tools" not in requests[4]
    last = tool_messages(requests[4])[-1]["content"]
    assert isinstance(last, dict) and last["ok"] is False and last["error"].startswith("refused")
    # Three rounds ran (one ticket, the conversation's), the fourth ran nothing.
    assert await pool.fetchval("SELECT count(*) FROM support_tickets") == 1
    assert [r["content"][:15] for r in tool_messages(requests[3])] == [
        "Ticket T-1001 i", "This conversati", "This conversati"]


async def test_handoff_on_the_widget_asks_for_an_email_then_opens_one_ticket_per_conversation(
        client: Client, shop: Bakery, fake_openai: FakeOpenAi, pool: asyncpg.Pool) -> None:
    fake_openai.state.script(
        ScriptedReply(tool_calls=[ScriptedToolCall("open_ticket", {"summary": "Refund for a cake"})]),
        "What is your email address?",
        ScriptedReply(tool_calls=[ScriptedToolCall("open_ticket", {"summary": "Refund", "email": "ann@example.com"})]),
        "Your ticket is T-1001.",
        ScriptedReply(tool_calls=[ScriptedToolCall("open_ticket", {"summary": "Again", "email": "ann@example.com"})]),
        "It's still T-1001.")
    async with client.ws_connect(f"/api/widget/{shop.agent_id}/ws", headers=ORIGIN) as ws:
        await widget_turn(ws, "I want a refund")
        await widget_turn(ws, "ann@example.com")
        done = (await widget_turn(ws, "did that work?"))[-1]
    asked, opened, again = (tool_messages(fake_openai.state.chat_requests[i])[-1]["content"] for i in (1, 3, 5))
    assert asked.startswith("No ticket was opened: ask the person for their email address first")
    assert opened.startswith("Ticket T-1001 is open") and again.startswith("This conversation already has ticket")
    row = await pool.fetchrow("SELECT * FROM support_tickets")
    assert row is not None
    assert (row["source"], row["requester_email"], str(row["conversation_id"])) == (
        "widget", "ann@example.com", done["conversationId"])
    assert await pool.fetchval("SELECT count(*) FROM support_tickets") == 1


async def test_an_agent_with_handoff_off_offers_no_ticket_and_a_bad_setting_is_422(
        client: Client, shop: Bakery, fake_openai: FakeOpenAi) -> None:
    resp = await client.patch(f"/api/agents/{shop.agent_id}", json={"handoffTickets": "yes"}, headers=shop.headers)
    assert resp.status == 422, await resp.text()
    resp = await client.patch(f"/api/agents/{shop.agent_id}", json={"handoffTickets": False}, headers=shop.headers)
    assert resp.status == 200 and (await resp.json())["handoffTickets"] is False
    fake_openai.state.script("Hello!")
    assert await text(client, "hi") == "Hello!"
    assert "tools" not in fake_openai.state.chat_requests[0]
