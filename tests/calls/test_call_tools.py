"""The agent's tools on a call: a slow action gets the filler then the answer, a silent one times out and is
spoken to, a barge-in cuts the filler but not the action, and the handoff ticket when no transfer can dial."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from media.caller_simulator import Say
from tests.calls.conftest import Line, speech
from tests.fake_openai import ScriptedReply, ScriptedToolCall
from tests.fake_twilio import FakeTwilio
from tests.fake_webhook_receiver import FakeWebhookReceiver

LOCAL = {"allowed_private_hosts": ("127.0.0.1",)}
FILLER = "One moment, please."


@pytest.fixture
async def receiver() -> AsyncIterator[FakeWebhookReceiver]:
    async with FakeWebhookReceiver() as started:
        yield started


async def _action(line: Line, url: str) -> None:
    """A webhook_call action, saved through the dashboard's route."""
    body = {"type": "webhook_call", "name": "push_lead", "description": "Send the caller's details to the CRM",
            "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            "configuration": {"url": url}}
    resp = await line.client.post(f"/api/agents/{line.agent_id}/actions", json=body, headers=line.tenant.headers)
    assert resp.status == 201, await resp.text()


def _tool_results(line: Line, index: int) -> list[Any]:
    return [orjson.loads(m["content"]) for m in line.openai.state.chat_requests[index]["messages"]
            if m["role"] == "tool"]


async def _answers(line: Line, call_sid: str) -> list[dict[str, Any]]:
    return [t for t in await line.turns(call_sid) if t["role"] == "assistant"][1:]  # after the greeting


async def test_a_two_second_action_gets_the_filler_half_a_second_after_the_turn_then_the_answer(
        line_factory: Any, receiver: FakeWebhookReceiver) -> None:
    line = await line_factory(knowledge=LOCAL)
    await _action(line, receiver.url("/slow/2"))
    line.deepgram.state.say("Please send my details, I'm Ann.")
    line.openai.state.script(ScriptedReply(tool_calls=[ScriptedToolCall("push_lead", {"name": "Ann"})]),
                             "Done, your details are with the team.")
    result = await line.call([Say(speech())])
    await line.settled()
    (answer,) = await _answers(line, result.call_sid)
    assert answer["text"] == f"{FILLER} Done, your details are with the team."
    # The filler's first frame is the answer's first: due 500 ms after the turn, out within 20 ms of it.
    assert 500 <= answer["server_latency_ms"] <= 520, answer
    first, second = line.openai.state.chat_requests
    assert [t["function"]["name"] for t in first["tools"]] == ["end_call", "transfer_call", "open_ticket", "push_lead"]
    (outcome,) = _tool_results(line, 1)
    assert outcome["ok"] is True
    assert len(receiver.on("/slow/2")) == 1
    # The filler was synthesised once, when the call started, not when it was said.
    assert [r.text for r in line.deepgram.state.speak_requests].count(FILLER) == 1


async def test_a_silent_action_is_timed_out_at_five_seconds_and_the_caller_is_answered(
        line_factory: Any, receiver: FakeWebhookReceiver) -> None:
    line = await line_factory(knowledge=LOCAL)
    await _action(line, receiver.url("/slow/30"))
    line.deepgram.state.say("Please send my details, I'm Ann.")
    line.openai.state.script(ScriptedReply(tool_calls=[ScriptedToolCall("push_lead", {"name": "Ann"})]),
                             "Sorry, our system is slow right now; we'll call you back.")
    result = await line.call([Say(speech())])
    await line.settled()
    (answer,) = await _answers(line, result.call_sid)
    assert answer["text"] == f"{FILLER} Sorry, our system is slow right now; we'll call you back."
    (outcome,) = _tool_results(line, 1)
    assert outcome["ok"] is False and "time" in str(outcome).lower()
    row = await line.pool.fetchrow("SELECT status, duration_ms FROM action_executions")
    assert row["status"] == "timed_out" and 4_900 <= row["duration_ms"] <= 5_500


async def test_a_barge_in_mid_wait_cuts_the_filler_and_the_action_still_completes(
        line_factory: Any, receiver: FakeWebhookReceiver) -> None:
    line = await line_factory(knowledge=LOCAL)
    await _action(line, receiver.url("/slow/2"))
    line.deepgram.state.say("Please send my details, I'm Ann.", "Actually, what time do you close?")
    line.openai.state.script(ScriptedReply(tool_calls=[ScriptedToolCall("push_lead", {"name": "Ann"})]),
                             "We close at five.")
    result = await line.call([Say(speech()), Say(speech(0.6), barge_in_after=0.3)])
    await line.settled()
    filler, answer = await _answers(line, result.call_sid)
    assert filler["interrupted"] and FILLER.startswith(filler["text"])
    assert answer["text"] == "We close at five."
    # The action was not cancelled with the reply: it ran its two seconds and succeeded.
    for _ in range(100):
        status = await line.pool.fetchval("SELECT status FROM action_executions")
        if status != "running":
            break
        await asyncio.sleep(0.05)
    assert status == "succeeded"
    assert len([r for r in line.openai.state.chat_requests if r.get("stream")]) == 2  # no answer to the cut round


async def test_a_form_on_a_call_gets_its_field_errors_back_and_submits_once_as_a_voice_submission(
        line_factory: Any) -> None:
    line = await line_factory()
    form = {"name": "Callback", "title": "Call back", "description": "Ask for a call back",
            "fields": [{"id": "name", "label": "Name", "type": "text", "required": True},
                       {"id": "email", "label": "Email", "type": "email", "required": True}]}
    resp = await line.client.post(f"/api/agents/{line.agent_id}/forms", json=form, headers=line.tenant.headers)
    assert resp.status == 201, await resp.text()
    line.deepgram.state.say("Call me back, I'm Ann, ann at example dot com.", "Yes, that's right.")
    line.openai.state.script(
        ScriptedReply(tool_calls=[ScriptedToolCall("form_callback", {"name": "Ann", "email": "ann at example"})]),
        "I got Ann and ann@example.com, is that right?",
        ScriptedReply(tool_calls=[ScriptedToolCall("form_callback", {"name": "Ann", "email": "ann@example.com"})]),
        "Thanks, we'll call you back.")
    result = await line.call([Say(speech()), Say(speech())])
    await line.settled()
    errors = _tool_results(line, 1)[0]["errors"]
    assert [e["field"] for e in errors] == ["email"]
    rows = await line.pool.fetch("SELECT channel, conversation_id, data FROM form_submissions")
    call = await line.call_row(result.call_sid)
    assert [(r["channel"], r["conversation_id"], r["data"]) for r in rows] == [
        ("voice", call["id"], {"name": "Ann", "email": "ann@example.com"})]
    assert "read its values back" in line.openai.state.chat_requests[0]["messages"][0]["content"]


async def test_handoff_on_a_call_opens_one_ticket_with_the_callers_number(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("I need someone to call me about my bill.", "Thanks.")
    summary = {"summary": "Question about a bill"}
    line.openai.state.script(
        ScriptedReply(text="Let me open a ticket.", tool_calls=[ScriptedToolCall("open_ticket", summary)]),
        "Your ticket is T-1001.",
        ScriptedReply(tool_calls=[ScriptedToolCall("open_ticket", summary)]), "It's still T-1001.")
    result = await line.call([Say(speech()), Say(speech())])
    await line.settled()
    texts = [t["text"] for t in await _answers(line, result.call_sid)]
    assert texts == ["Let me open a ticket. Your ticket is T-1001.", "It's still T-1001."]
    rows = await line.pool.fetch("SELECT source, requester_phone, conversation_id FROM support_tickets")
    assert len(rows) == 1
    call = await line.call_row(result.call_sid)
    assert (rows[0]["source"], rows[0]["requester_phone"], rows[0]["conversation_id"]) == (
        "call", call["from_number"], call["id"])


async def test_a_transfer_that_cannot_dial_is_answered_and_the_model_opens_a_ticket_instead(line_factory: Any) -> None:
    line = await line_factory()  # no transfer number
    line.deepgram.state.say("Put me through to a person, please.")
    line.openai.state.script(ScriptedReply(tool_calls=[ScriptedToolCall("transfer_call")]),
                             ScriptedReply(tool_calls=[ScriptedToolCall("open_ticket", {"summary": "Wants a person"})]),
                             "Nobody can take the call now; ticket T-1001 is open and we'll call you back.")
    result = await line.call([Say(speech())])
    await line.settled()
    texts = [t["text"] for t in await _answers(line, result.call_sid)]
    assert texts[-1] == "Nobody can take the call now; ticket T-1001 is open and we'll call you back."
    refusal = [m for m in line.openai.state.chat_requests[1]["messages"] if m["role"] == "tool"]
    assert refusal[-1]["content"].startswith("Transfer is not available on this line")
    assert await line.pool.fetchval("SELECT count(*) FROM support_tickets WHERE source = 'call'") == 1


async def test_a_fourth_round_on_a_call_is_refused_and_a_model_with_nothing_to_say_leaves_no_silence(
        line_factory: Any) -> None:
    line = await line_factory()
    call = ScriptedReply(tool_calls=[ScriptedToolCall("open_ticket", {"summary": "Call me back"})])
    line.deepgram.state.say("Someone should call me back.")
    line.openai.state.script(*(call for _ in range(5)))
    result = await line.call([Say(speech())])
    await line.settled()
    streamed = [r for r in line.openai.state.chat_requests if r.get("stream")]
    assert len(streamed) == 5
    assert [t["function"]["name"] for t in streamed[4]["tools"]] == ["end_call", "transfer_call"]
    refused = orjson.loads(streamed[4]["messages"][-1]["content"])
    assert refused["ok"] is False and refused["error"].startswith("refused")
    (answer,) = await _answers(line, result.call_sid)
    assert answer["text"] == line.settings.calls.apology_text
    assert await line.pool.fetchval("SELECT count(*) FROM support_tickets") == 1


async def test_open_ticket_is_not_offered_when_transfer_call_can_dial(fake_twilio: FakeTwilio,
                                                                      line_factory: Any) -> None:
    line = await line_factory(twilio=fake_twilio, transfer_number="+14155550199")
    line.deepgram.state.say("Hello?")
    line.openai.state.script("Hi, how can I help?")
    await line.call([Say(speech())], call_sid=fake_twilio.add_call())
    await line.settled()
    assert [t["function"]["name"] for t in line.openai.state.chat_requests[0]["tools"]] == [
        "end_call", "transfer_call"]
