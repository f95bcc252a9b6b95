"""The analysis: a strict json_schema request, checked locally, one repair, metered like chat; the transcript's budget."""

from __future__ import annotations

import asyncpg
import msgspec
import pytest

from agent_server.config import Settings
from conversations.conversation import Turn
from outcomes import ending, records, transcript
from outcomes.analysis import Analyser
from outcomes.schema import decode_analysis, parse_custom_fields, response_format
from tests.conftest import MakeClient
from tests.fake_openai import FakeOpenAi, ScriptedReply
from tests.jobs.clock import ManualClock
from tests.outcomes.conftest import Shop, analysis_json, widget_conversation

CHAT = [("user", "Hi, I'm Maria Lopez. Do you make wedding cakes?"), ("assistant", "We do! For when?"),
        ("user", "June 12th, for 80 guests.")]


async def _ended(pool: asyncpg.Pool, shop: Shop, clock: ManualClock,
                 messages: list[tuple[str, str]] = CHAT) -> records.Outcome:
    conversation_id = await widget_conversation(pool, shop, messages)
    assert await ending.end_widget(pool, conversation_id, reason="request", now=clock.now)
    outcome = await records.find(pool, conversation_id)
    assert outcome is not None
    return outcome


async def test_the_analysis_is_asked_with_a_strict_schema_stored_and_paid_for(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock, analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    fake_openai.state.script(ScriptedReply(json=analysis_json()))
    outcome = await _ended(pool, shop, clock)
    analysed = await analyser.analyse_one(outcome.id)
    assert analysed is not None and analysed.analysis_status == "analysed"
    assert analysed.analysis is not None
    assert analysed.analysis["summary"] == "Maria asked about a wedding cake. She wants a quote."
    (request,) = fake_openai.state.chat_requests
    fmt = request["response_format"]
    assert (fmt["type"], fmt["json_schema"]["strict"]) == ("json_schema", True)
    assert set(fmt["json_schema"]["schema"]["required"]) == {"summary", "sentiment", "outcome", "topics", "lead",
                                                              "fields"}
    assert "June 12th" in request["messages"][1]["content"]
    charged = await pool.fetchval("SELECT charged FROM conversation_outcomes WHERE id = $1", outcome.id)
    entries = await pool.fetchval("SELECT count(*) FROM ledger_entries WHERE kind = 'chat_usage'")
    assert charged > 0 and entries >= 1
    assert await analyser.analyse_one(outcome.id) is None, "an analysed conversation is not claimed again"


async def test_prose_is_retried_once_then_the_analysis_fails_keeping_the_raw_text(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock, analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    fake_openai.state.options.ignore_response_format = True
    prose = "Sure! Maria wants a wedding cake for June 12th."
    fake_openai.state.default_reply = ScriptedReply(text=prose)
    outcome = await _ended(pool, shop, clock)
    analysed = await analyser.analyse_one(outcome.id)
    assert analysed is not None
    assert (analysed.analysis_status, analysed.raw_output, analysed.analysis) == ("analysis_failed", prose, None)
    assert analysed.analysis_error is not None and analysed.analysis_error.startswith("invalid analysis")
    assert len(fake_openai.state.chat_requests) == 2
    repair = fake_openai.state.chat_requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": prose}


async def test_a_repaired_answer_is_accepted(pool: asyncpg.Pool, shop: Shop, clock: ManualClock,
                                             analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    too_long = analysis_json(summary="One. Two. Three. Four.")
    fake_openai.state.script(ScriptedReply(json=too_long), ScriptedReply(json=analysis_json()))
    analysed = await analyser.analyse_one((await _ended(pool, shop, clock)).id)
    assert analysed is not None and analysed.analysis_status == "analysed"
    assert "at most 3 sentences" in fake_openai.state.chat_requests[1]["messages"][-1]["content"]


async def test_a_conversation_with_one_message_from_the_person_is_skipped_without_a_request(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock, analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    outcome = await _ended(pool, shop, clock, [("user", "hi"), ("assistant", "Hello! How can I help?")])
    analysed = await analyser.analyse_one(outcome.id)
    assert analysed is not None and analysed.analysis_status == "skipped"
    assert fake_openai.state.chat_requests == []


async def test_the_agents_custom_fields_are_in_the_schema_and_checked(
        pool: asyncpg.Pool, shop: Shop, clock: ManualClock, analyser: Analyser, fake_openai: FakeOpenAi) -> None:
    fields = [{"name": "guests", "type": "number", "description": "how many guests"},
              {"name": "flavour", "type": "enum", "values": ["vanilla", "chocolate"], "description": "cake"}]
    await pool.execute("UPDATE agents SET extraction_fields = $2 WHERE id = $1", shop.agent_id, fields)
    fake_openai.state.script(ScriptedReply(json={**analysis_json(), "fields": {"guests": 80, "flavour": None}}))
    analysed = await analyser.analyse_one((await _ended(pool, shop, clock)).id)
    assert analysed is not None and analysed.analysis is not None
    assert analysed.analysis["fields"] == {"guests": 80.0, "flavour": None}
    schema = fake_openai.state.chat_requests[0]["response_format"]["json_schema"]["schema"]
    assert schema["$defs"]["CustomFields"]["required"] == ["guests", "flavour"]
    with pytest.raises(msgspec.ValidationError):
        decode_analysis(msgspec.json.encode({**analysis_json(), "fields": {"guests": 1, "flavour": "lemon"}}).decode(),
                        parse_custom_fields(fields))
    with pytest.raises(ValueError, match="at most 20"):
        parse_custom_fields([{"name": f"f{i}", "type": "text"} for i in range(21)])


def test_a_schema_example_from_the_fake_passes_local_validation() -> None:
    from tests.fake_openai import schema_example

    schema = response_format()["json_schema"]["schema"]
    decode_analysis(msgspec.json.encode(schema_example(schema, schema["$defs"])).decode())


def test_a_long_transcript_is_cut_from_the_middle_to_its_budget() -> None:
    turns = [Turn("user" if i % 2 == 0 else "assistant", f"message {i} " + "words " * 60) for i in range(200)]
    text = transcript.render(turns, budget_tokens=6000)
    assert transcript.estimate_tokens(text) <= 6000
    assert text.startswith("Customer: message 0 ") and text.rstrip().endswith("words")
    assert "message 199 " in text and "message 100 " not in text
    assert "messages from the middle left out" in text
    short = transcript.render(turns[:3], budget_tokens=6000)
    assert short.count("\n") == 2 and "left out" not in short


async def test_the_analysis_route_shows_an_ended_calls_and_chats_analysis(
        make_client: MakeClient, outcome_settings: Settings, pool: asyncpg.Pool, shop: Shop, clock: ManualClock,
        fake_openai: FakeOpenAi) -> None:
    client = await make_client(outcome_settings)
    outcome = await _ended(pool, shop, clock)
    pending = await client.get(f"/api/conversations/{outcome.id}/analysis", headers=shop.headers)
    assert (pending.status, (await pending.json())["status"]) == (200, "pending")
    fake_openai.state.script(ScriptedReply(json=analysis_json()))
    extracted = await client.post("/api/leads/extract", json={"conversationId": str(outcome.id)},
                                  headers=shop.headers)
    assert extracted.status == 200, await extracted.text()
    body = await extracted.json()
    assert (body["status"], body["result"]["outcome"], body["channel"]) == ("analysed", "needs_followup", "widget")
    again = await client.post("/api/leads/extract", json={"conversationId": str(outcome.id)}, headers=shop.headers)
    assert (await again.json())["analysedAt"] == body["analysedAt"]
    assert len(fake_openai.state.chat_requests) == 1, "without force the stored analysis is returned"
