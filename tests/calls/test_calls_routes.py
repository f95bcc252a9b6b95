"""The dashboard's call list and call detail: own businesses only, newest first, transcript and latencies."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import asyncpg

from media import call_records
from media.call_records import TurnRecord
from media.caller_simulator import Press, Say
from phone_numbers import registry
from tests.calls.conftest import speech
from tests.calls.test_twilio_voice import post_signed
from tests.conftest import MakeBusiness


async def add_call(pool: asyncpg.Pool, business_id: Any, agent_id: Any, number_id: Any, n: int) -> Any:
    call_id = await call_records.record_inbound_call(
        pool, call_sid=f"CA{n:032x}", business_id=business_id, number_id=number_id, agent_id=agent_id,
        from_number="+15551230000", to_number="+14155550100")
    await pool.execute("UPDATE calls SET started_at = now() - make_interval(secs => $2) WHERE id = $1",
                       call_id, 1000 - n)
    return call_id


async def test_call_list_pages_newest_first_and_shows_only_own_calls(line_factory: Any,
                                                                     make_business: MakeBusiness) -> None:
    line = await line_factory()
    number_id = (await registry.route_for(line.pool, "+14155550100")).number_id  # type: ignore[union-attr]
    ids = [await add_call(line.pool, line.tenant.business_id, line.agent_id, number_id, n) for n in range(5)]
    stranger = await make_business("Other")
    seen: list[str] = []
    cursor = None
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        resp = await line.client.get("/api/calls", params=query, headers=line.tenant.headers)
        assert resp.status == 200
        body = await resp.json()
        seen += [c["id"] for c in body["calls"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == [str(i) for i in reversed(ids)]
    other = await line.client.get("/api/calls", headers=stranger.headers)
    assert (await other.json())["calls"] == []
    hidden = await line.client.get(f"/api/calls/{ids[0]}", headers=stranger.headers)
    assert hidden.status == 404
    assert (await line.client.get("/api/calls")).status == 401


async def test_call_detail_has_transcript_and_latencies(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("What are your opening hours?")
    line.openai.state.script("We open at nine.")
    result = await line.call([Say(speech())])
    await line.settled()
    call_id = (await line.call_row(result.call_sid))["id"]
    resp = await line.client.get(f"/api/calls/{call_id}", headers=line.tenant.headers)
    body = await resp.json()
    assert body["callSid"] == result.call_sid and body["endReason"] == "caller_hung_up"
    assert body["durationSeconds"] >= 1 and body["status"] == "completed"
    assert [t["role"] for t in body["transcript"]] == ["assistant", "user", "assistant"]
    assert body["latency"]["server"]["count"] == 1 and body["latency"]["ear"]["count"] == 1


async def test_keypad_digits_reach_the_llm_as_text(line_factory: Any) -> None:
    line = await line_factory(calls={"dtmf_timeout_seconds": 0.3})
    line.openai.state.script("Thanks, order 42 found.")
    result = await line.call([Press("42")])
    await line.settled()
    asked = line.openai.state.chat_requests[0]["messages"][-1]
    assert asked == {"role": "user", "content": "(The caller pressed the keys: 4 2)"}
    assert result.replies == 2


async def test_status_callback_ends_a_live_call(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("Hello?")
    line.openai.state.script(" ".join(["A long answer that keeps going."] * 20))
    task = asyncio.create_task(line.call([Say(speech()), Say(speech())]))
    await asyncio.sleep(1.5)
    live = await line.pool.fetchval("SELECT call_sid FROM calls WHERE stream_started_at IS NOT NULL")
    status, _ = await post_signed(line, "/api/voice-agent/status",
                                  {"CallSid": live, "CallStatus": "completed", "CallDuration": "3"})
    assert status == 200
    result = await task
    await line.settled()
    assert result.hung_up_by_agent
    row = await line.call_row(live)
    assert row["end_reason"] == "status_callback" and row["twilio_duration_seconds"] == 3


async def test_turn_records_keep_order_and_flags(pool: asyncpg.Pool, line_factory: Any) -> None:
    line = await line_factory()
    number_id = (await registry.route_for(line.pool, "+14155550100")).number_id  # type: ignore[union-attr]
    call_id = await add_call(pool, line.tenant.business_id, line.agent_id, number_id, 1)
    recorder = call_records.CallRecorder(pool, call_id)
    now = datetime.datetime.now(datetime.UTC)
    recorder.turn(TurnRecord("user", "hi", now))
    recorder.turn(TurnRecord("assistant", "hello there", now, interrupted=True, server_latency_ms=12))
    await recorder.close(end_reason="caller_hung_up", duration_seconds=2.2)
    turns = await call_records.turns_of(pool, call_id)
    assert [(t["seq"], t["text"], t["interrupted"]) for t in turns] == [(1, "hi", False), (2, "hello there", True)]
    row = await call_records.get_call(pool, call_id)
    assert row is not None and row["duration_seconds"] == 3 and row["status"] == "completed"
