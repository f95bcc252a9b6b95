"""Calls from a browser (issue 22): admitted by a single-use token, carried on the call pipeline, billed like a call."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import aiohttp
import pytest

from media.audio.web_l16 import mulaw_to_l16
from media.caller_simulator import Say
from tests.audio_samples import silence_mulaw
from tests.calls.conftest import speech
from tests.conftest import PUBLIC_URL

ELSEWHERE = "https://elsewhere.example"


async def _grant(line: Any, *, origin: str | None = None) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {line.tenant.token}", **({"Origin": origin} if origin else {})}
    resp = await line.client.get("/api/voice/token", params={"agentId": str(line.agent_id)}, headers=headers)
    assert resp.status == 200, await resp.text()
    grant: dict[str, Any] = await resp.json()
    return grant


async def test_browser_call_is_answered_on_the_pipeline_and_billed_like_a_phone_call(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("What are your opening hours?")
    line.openai.state.script("We open at nine.")
    grant = await _grant(line)
    assert grant["url"].endswith(f"/api/voice/web/stream?callId={grant['callId']}")
    result = await line.simulator().web_call(grant["url"], grant["token"], [Say(speech())])
    await line.settled()
    call = await line.pool.fetchrow("SELECT * FROM calls WHERE id = $1", grant["callId"])
    assert (call["channel"], call["from_number"], call["number_id"]) == ("web", "web", None)
    assert call["ended_at"] is not None and call["duration_seconds"] >= 1
    texts = [t["text"] for t in await line.turns(call["call_sid"]) if t["role"] == "assistant"]
    assert texts == ["Hello, thanks for calling Acme.", "We open at nine."]
    assert result.replies >= 2 and result.marks_echoed > 0
    meter = await line.pool.fetchrow("SELECT * FROM call_meters WHERE call_sid = $1", call["call_sid"])
    assert meter is not None and meter["settled_seconds"] == call["duration_seconds"]


async def test_a_used_or_expired_token_closes_the_socket_with_1008_and_opens_no_provider(line_factory: Any) -> None:
    line = await line_factory()
    grant = await _grant(line)
    await line.simulator().web_call(grant["url"], grant["token"], [Say(speech(0.2))])
    await line.settled()
    opened = len(line.deepgram.state.listen_queries)
    again = await line.simulator().web_call(grant["url"], grant["token"], [])
    assert again.close_code == 1008

    expired = await _grant(line)
    await line.pool.execute("UPDATE web_call_tokens SET expires_at = now() - interval '1 second' WHERE call_id = $1",
                            expired["callId"])
    late = await line.simulator().web_call(expired["url"], expired["token"], [])
    wrong = await _grant(line)
    forged = await line.simulator().web_call(wrong["url"], "not-the-token", [])
    assert late.close_code == forged.close_code == 1008
    assert len(line.deepgram.state.listen_queries) == opened


async def test_a_page_of_another_origin_is_refused_before_the_upgrade(line_factory: Any) -> None:
    line = await line_factory()
    grant = await _grant(line, origin=PUBLIC_URL)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await line.simulator().web_call(grant["url"], grant["token"], [], origin=ELSEWHERE)
    assert refused.value.status == 403
    answered = await line.simulator().web_call(grant["url"], grant["token"], [Say(speech(0.2))], origin=PUBLIC_URL)
    assert answered.replies >= 1


def _start(token: str, encoding: str, rate: int) -> str:
    return json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
                       "start": {"streamSid": "MZ1", "accountSid": "AC1", "callSid": "", "tracks": ["inbound"],
                                 "customParameters": {"token": token},
                                 "mediaFormat": {"encoding": encoding, "sampleRate": rate, "channels": 1}}})


def _media(seq: int, payload: bytes) -> str:
    return json.dumps({"event": "media", "sequenceNumber": str(seq), "streamSid": "MZ1",
                       "media": {"track": "inbound", "chunk": str(seq), "timestamp": str(seq * 20),
                                 "payload": base64.b64encode(payload).decode()}})


async def test_a_format_other_than_mulaw_8khz_or_l16_16khz_is_refused(line_factory: Any) -> None:
    line = await line_factory()
    grant = await _grant(line)
    async with line.http.ws_connect(line.simulator()._local(grant["url"])) as ws:
        await ws.send_str(_start(grant["token"], "audio/L16", 8000))
        message = await ws.receive()
    assert message.type is aiohttp.WSMsgType.CLOSE and message.data == 1008


async def test_a_browser_speaking_l16_at_16khz_is_converted_at_the_edge_both_ways(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("What are your opening hours?")
    line.openai.state.script("We open at nine.")
    grant = await _grant(line)
    said = mulaw_to_l16(speech(0.5))
    quiet = mulaw_to_l16(silence_mulaw(0.02))
    frames = [said[i:i + 640] for i in range(0, len(said), 640)]
    heard: list[int] = []
    async with line.http.ws_connect(line.simulator()._local(grant["url"])) as ws:
        await ws.send_str(_start(grant["token"], "audio/L16", 16000))

        async def listen() -> None:
            async for message in ws:
                event = json.loads(message.data)
                if event["event"] == "media":
                    heard.append(len(base64.b64decode(event["media"]["payload"])))
                elif event["event"] == "mark":
                    await ws.send_str(json.dumps({"event": "mark", "sequenceNumber": "0", "streamSid": "MZ1",
                                                  "mark": event["mark"]}))

        listener = asyncio.create_task(listen())
        seq = 0
        for frame in [quiet] * 100 + frames + [quiet] * 150:  # 2 s, the line, 3 s: the answer comes meanwhile
            seq += 1
            await ws.send_str(_media(seq, frame))
            await asyncio.sleep(0.02)
        await ws.send_str(json.dumps({"event": "stop", "sequenceNumber": str(seq + 1), "streamSid": "MZ1"}))
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    await line.settled()
    assert heard and set(heard) == {640}  # every frame out is 20 ms of 16 kHz L16
    call_sid = await line.pool.fetchval("SELECT call_sid FROM calls WHERE id = $1", grant["callId"])
    texts = [t["text"] for t in await line.turns(call_sid) if t["role"] == "assistant"]
    assert texts == ["Hello, thanks for calling Acme.", "We open at nine."]  # the converted line was heard


async def test_an_empty_wallet_is_refused_with_402_and_the_call_closed(line_factory: Any) -> None:
    line = await line_factory(funds=0)
    resp = await line.client.get("/api/voice/token", params={"agentId": str(line.agent_id)},
                                 headers={"Authorization": f"Bearer {line.tenant.token}"})
    assert resp.status == 402
    call = await line.pool.fetchrow("SELECT end_reason, ended_at FROM calls WHERE channel = 'web'")
    assert call["end_reason"] == "refused" and call["ended_at"] is not None


async def test_the_widget_grants_calls_only_with_voice_on_and_from_an_allowed_origin(line_factory: Any) -> None:
    line = await line_factory()
    url = f"/api/widget/{line.agent_id}/voice/token"
    off = await line.client.post(url, headers={"Origin": PUBLIC_URL})
    assert off.status == 404
    await line.pool.execute("UPDATE agents SET channels = $2 WHERE id = $1", line.agent_id,
                            {"widget": {"voiceEnabled": True}})
    assert (await line.client.post(url, headers={"Origin": ELSEWHERE})).status == 403
    granted = await line.client.post(url, headers={"Origin": PUBLIC_URL})
    assert granted.status == 200
    grant = await granted.json()
    bound = await line.pool.fetchval("SELECT origin FROM web_call_tokens WHERE call_id = $1", grant["callId"])
    assert bound == PUBLIC_URL
