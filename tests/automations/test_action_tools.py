"""Actions as the model's tools: definitions in a fixed order, arguments checked first, one run per key, timeouts,
answers cut at maxResponseBytes, and every failure returned to the model as data."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import asyncpg
import msgspec

from automations.action_runner import ActionServices
from automations.action_tools import load_action_tools
from tests.automations.action_fixtures import make_action, receiver, services, webhook_action
from tests.automations.conftest import Shop
from tests.conftest import MakeBusiness
from tests.fake_webhook_receiver import FakeWebhookReceiver

__all__ = ["receiver", "services"]


async def _tools(pool: asyncpg.Pool, shop: Shop, services: ActionServices, **kwargs: Any) -> Any:
    return await load_action_tools(pool, shop.tenant.business_id, shop.agent_id, services=services, **kwargs)


async def test_definitions_are_the_active_actions_by_name_in_openais_format(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices, make_business: MakeBusiness) -> None:
    for name, active in (("zeta", True), ("alpha", True), ("beta", False)):
        await make_action(pool, shop, webhook_action("https://hooks.example.test/x", name=name, isActive=active))
    tools = await _tools(pool, shop, services)
    definitions = tools.definitions()
    assert [d["function"]["name"] for d in definitions] == ["alpha", "zeta"]
    assert definitions[0] == {"type": "function", "function": {
        "name": "alpha", "description": "Send the lead to the CRM", "parameters": {
            "type": "object", "additionalProperties": False, "required": ["name"], "properties": {
                "name": {"type": "string", "maxLength": 100}, "email": {"type": "string", "format": "email"},
                "size": {"enum": ["small", "large"]}}}}}
    other = await make_business("Other")
    foreign = await load_action_tools(pool, other.business_id, shop.agent_id, services=services)
    assert foreign.definitions() == []


async def test_arguments_are_checked_before_anything_runs_and_errors_go_back_as_data(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices, receiver: FakeWebhookReceiver) -> None:
    await make_action(pool, shop, webhook_action(receiver.url("/echo")))
    tools = await _tools(pool, shop, services)
    cases = {"{not json": {""}, "[1]": {""}, '{"size": "huge", "colour": "red"}': {"name", "size", "colour"},
             '{"name": "Ada", "email": "not-an-email"}': {"email"}}
    for arguments, fields in cases.items():
        outcome = await tools.run("push_lead", arguments, key=f"c:{uuid.uuid4()}", conversation_id=None,
                                  channel="sms")
        told = msgspec.json.decode(outcome.content)
        assert not outcome.ok and {e["field"] for e in told["errors"]} == fields, told
    unknown = await tools.run("drop_tables", "{}", key="c:x", conversation_id=None, channel="sms")
    assert not unknown.ok and "no tool named" in unknown.content
    assert receiver.received == []
    assert await pool.fetchval("SELECT count(*) FROM action_executions") == 0


async def test_the_same_tool_call_key_acts_once_and_returns_the_first_result(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices, receiver: FakeWebhookReceiver) -> None:
    await make_action(pool, shop, webhook_action(receiver.url("/echo")))
    tools = await _tools(pool, shop, services)
    conversation = uuid.uuid4()
    key = f"{conversation}:call_1"
    first, second = await asyncio.gather(*(
        tools.run("push_lead", '{"name": "Ada"}', key=key, conversation_id=conversation, channel="widget")
        for _ in range(2)))
    third = await tools.run("push_lead", '{"name": "Ada"}', key=key, conversation_id=conversation, channel="widget")
    told = [msgspec.json.decode(o.content) for o in (first, second, third)]
    assert first.ok and told[0] == told[1] == told[2]
    assert len(receiver.received) == 1
    assert await pool.fetchval("SELECT count(*) FROM action_executions") == 1
    (hit,) = receiver.received
    assert hit.webhook_id == "msg_" + (await pool.fetchval("SELECT id FROM action_executions")).hex


async def test_a_slow_webhook_times_out_at_its_timeout_and_the_model_is_told(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices, receiver: FakeWebhookReceiver) -> None:
    await make_action(pool, shop, webhook_action(receiver.url("/slow/5"), timeoutMs=300))
    tools = await _tools(pool, shop, services)
    started = time.monotonic()
    outcome = await tools.run("push_lead", '{"name": "Ada"}', key="c:slow", conversation_id=None, channel="sms")
    assert time.monotonic() - started < 2
    assert not outcome.ok and "within 0.3 s" in outcome.content
    row = await pool.fetchrow("SELECT status, duration_ms FROM action_executions")
    assert row["status"] == "timed_out" and 250 <= row["duration_ms"] < 2000


async def test_a_calls_cap_shortens_the_actions_own_timeout(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices, receiver: FakeWebhookReceiver) -> None:
    await make_action(pool, shop, webhook_action(receiver.url("/slow/5"), timeoutMs=10_000))
    tools = await _tools(pool, shop, services, timeout_cap_ms=200)
    started = time.monotonic()
    outcome = await tools.run("push_lead", '{"name": "Ada"}', key="c:cap", conversation_id=None, channel="voice")
    assert not outcome.ok and time.monotonic() - started < 1.5


async def test_the_answer_is_cut_at_max_response_bytes_and_the_model_reads_at_most_4000_characters(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices, receiver: FakeWebhookReceiver) -> None:
    await make_action(pool, shop, webhook_action(receiver.url("/5mb"), maxResponseBytes=100_000))
    tools = await _tools(pool, shop, services)
    outcome = await tools.run("push_lead", '{"name": "Ada"}', key="c:big", conversation_id=None, channel="sms")
    assert outcome.ok and len(outcome.content) <= 4000
    told = msgspec.json.decode(outcome.content)
    assert told["truncated"] is True and set(told["result"]) == {"x"}
    stored = await pool.fetchval("SELECT output->>'result' FROM action_executions")
    assert len(stored) == 100_000
    for _ in range(50):
        if receiver.big_answers_aborted:
            break
        await asyncio.sleep(0.05)
    assert receiver.big_answers_aborted == 1


async def test_a_custom_tool_posts_its_arguments_signed_and_awaits_the_answer(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices, receiver: FakeWebhookReceiver) -> None:
    action = await make_action(pool, shop, {
        "type": "custom_tool", "name": "check_stock", "description": "Is the cake in stock?",
        "parameters": {"type": "object", "properties": {"cake": {"type": "string"}}, "required": ["cake"]},
        "configuration": {"url": receiver.url("/echo")}})
    tools = await _tools(pool, shop, services)
    outcome = await tools.run("check_stock", '{"cake": "lemon"}', key="c:stock", conversation_id=None,
                              channel="whatsapp")
    told = msgspec.json.decode(outcome.content)
    assert outcome.ok and told["result"]["type"] == "tool.called"
    assert told["result"]["data"]["arguments"] == {"cake": "lemon"}
    assert told["result"]["data"]["channel"] == "whatsapp"
    (hit,) = receiver.received
    assert hit.verify_now(action.signing_secret)["data"]["action_name"] == "check_stock"


async def test_a_receivers_error_and_a_redirect_are_failures_the_model_reads(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices, receiver: FakeWebhookReceiver) -> None:
    await make_action(pool, shop, webhook_action(receiver.url("/500"), name="fails"))
    await make_action(pool, shop, webhook_action(receiver.url("/301"), name="moves"))
    tools = await _tools(pool, shop, services)
    failed = await tools.run("fails", '{"name": "Ada"}', key="c:500", conversation_id=None, channel="sms")
    moved = await tools.run("moves", '{"name": "Ada"}', key="c:301", conversation_id=None, channel="sms")
    assert not failed.ok and "HTTP 500" in failed.content
    assert not moved.ok and "HTTP 301" in moved.content
    assert [r.path for r in receiver.received] == ["/500", "/301"]  # the redirect's /ok never asked


async def test_a_calls_filler_is_the_actions_own_one_line_and_a_calendar_describes_itself(
        pool: asyncpg.Pool, shop: Shop, services: ActionServices) -> None:
    await make_action(pool, shop, webhook_action("https://hooks.example.test/x", voiceFiller="  One moment,\n"
                                                                                           " checking…  "))
    await make_action(pool, shop, {"type": "calendar_booking", "name": "book_visit", "configuration": {}})
    tools = await _tools(pool, shop, services)
    assert tools.voice_filler("push_lead") == "One moment, checking…"
    assert tools.voice_filler("book_visit") is None and "push_lead" in tools and "nope" not in tools
    calendar = tools.definitions()[0]["function"]
    assert calendar["name"] == "book_visit" and "book one" in calendar["description"]
