"""How calls end and survive failures: tools, provider errors, forged streams, hang-ups with nothing left behind."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import aiohttp
import pytest

from media.caller_simulator import HangUp, Say, sign
from media.protocol.twilio import Connected, Media, MediaFormat, Start, Stop
from tests.calls.conftest import AUTH_TOKEN, Line, speech
from tests.conftest import PUBLIC_URL
from tests.fake_openai import ScriptedReply, ScriptedToolCall
from tests.fake_twilio import FakeTwilio

STREAM = "/api/voice-agent/stream"


def call_tasks() -> list[asyncio.Task[Any]]:
    """Tasks still running code of a call: the session, its replies, STT sessions."""
    return [t for t in asyncio.all_tasks()
            if any(name in repr(t.get_coro()) for name in ("CallSession", "DeepgramSession", "_Reply"))]


async def test_stt_socket_drop_reconnects_and_the_call_continues(line_factory: Any) -> None:
    """The drop lands just after the caller's second line: its words in flight are lost with the
    socket, so the turn is taken from the last interim result, and the call carries on."""
    line = await line_factory()
    line.deepgram.state.say("What are your opening hours?", "And on Saturday?")
    line.openai.state.script("We open at nine.", "Ten to two.")
    line.deepgram.state.drop_after_bytes = 8000 * 2
    result = await line.call([Say(speech()), Say(speech())])
    await line.settled()
    assert line.deepgram.state.connections_opened == 2
    texts = [t["text"] for t in await line.turns(result.call_sid) if t["role"] == "assistant"]
    assert texts[-1] == "Ten to two."


async def test_llm_error_is_answered_with_a_short_spoken_apology(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("What are your opening hours?", "Are you there?")
    line.openai.state.script(ScriptedReply(status=500), ScriptedReply(status=500), "Yes, I am here.")
    result = await line.call([Say(speech()), Say(speech())])
    await line.settled()
    texts = [t["text"] for t in await line.turns(result.call_sid) if t["role"] == "assistant"]
    assert texts[1:] == [line.settings.calls.apology_text, "Yes, I am here."]
    assert result.replies == 3


async def test_end_call_says_goodbye_then_hangs_up(fake_twilio: FakeTwilio, line_factory: Any) -> None:
    twilio = fake_twilio
    line = await line_factory(twilio=twilio)
    call_sid = twilio.add_call()
    line.deepgram.state.say("That's all, thanks.")
    line.openai.state.script(ScriptedReply(text="Goodbye, have a nice day.",
                                           tool_calls=[ScriptedToolCall("end_call")]))
    result = await line.call([Say(speech()), Say(speech())], call_sid=call_sid)
    await line.settled()
    assert result.hung_up_by_agent and result.replies == 2
    row = await line.call_row(call_sid)
    assert row["end_reason"] == "agent_ended"
    assert twilio.calls[call_sid]["status"] == "completed"
    texts = [t["text"] for t in await line.turns(call_sid)]
    assert texts[-1] == "Goodbye, have a nice day."


async def test_transfer_call_redirects_the_live_call_to_the_agents_number(fake_twilio: FakeTwilio,
                                                                          line_factory: Any) -> None:
    twilio = fake_twilio
    line = await line_factory(twilio=twilio, transfer_number="+14155550199")
    call_sid = twilio.add_call()
    line.deepgram.state.say("Can I talk to a person?")
    line.openai.state.script(ScriptedReply(tool_calls=[ScriptedToolCall("transfer_call")]))
    result = await line.call([Say(speech()), Say(speech())], call_sid=call_sid)
    await line.settled()
    assert result.hung_up_by_agent
    assert twilio.calls[call_sid]["twiml"] == ["<Response><Dial>+14155550199</Dial></Response>"]
    row = await line.call_row(call_sid)
    assert row["end_reason"] == "transferred" and row["transferred_to"] == "+14155550199"
    texts = [t["text"] for t in await line.turns(call_sid)]
    assert texts[-1] == line.settings.calls.transfer_text


async def test_caller_hanging_up_mid_sentence_leaves_no_task_or_provider_socket(line_factory: Any) -> None:
    line = await line_factory(deepgram_options={"speak_chunk_delay": 0.05, "speak_chunk_bytes": 800})
    line.openai.state.options.token_delay = 0.05
    line.deepgram.state.say("Tell me everything.")
    line.openai.state.script(" ".join(["This is a very long answer that goes on."] * 10))
    result = await line.call([Say(speech()), HangUp(after_agent_audio=0.3)])
    await line.settled()
    await asyncio.sleep(0.1)
    assert not result.hung_up_by_agent
    assert line.deepgram.state.connections_opened == line.deepgram.state.connections_closed == 1
    assert line.openai.state.streams_aborted == 1
    assert call_tasks() == []
    row = await line.call_row(result.call_sid)
    assert row["end_reason"] == "caller_hung_up"
    cut = [t for t in await line.turns(result.call_sid) if t["interrupted"]]
    assert len(cut) == 1


async def open_stream(line: Line, params: dict[str, str], call_sid: str,
                      signature: str | None = None) -> aiohttp.ClientWebSocketResponse:
    headers = {"X-Twilio-Signature": signature} if signature is not None else {}
    ws = await line.http.ws_connect(line.server_url.replace("http", "ws") + STREAM, headers=headers)
    await ws.send_str(Connected("Call", "1.0.0").to_json())
    await ws.send_str(Start(1, "MZ" + "0" * 32, "AC" + "0" * 32, call_sid, ("inbound",), params,
                            MediaFormat("audio/x-mulaw", 8000, 1)).to_json())
    return ws


async def test_forged_stream_is_refused_before_any_provider_connection(line_factory: Any) -> None:
    line = await line_factory()
    url = "wss://agent.example.test" + STREAM
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await open_stream(line, {}, "CA" + "1" * 32, signature=sign("not-the-token", url, {}))
    assert refused.value.status == 403
    form = {"CallSid": "CA" + "2" * 32, "From": "+15551230000", "To": "+14155550100"}
    resp = await line.client.post("/api/voice-agent/handle-call", data=form, headers={
        "X-Twilio-Signature": sign(AUTH_TOKEN, PUBLIC_URL + "/api/voice-agent/handle-call", form)})
    call_id = (await resp.text()).split('name="callId" value="')[1].split('"')[0]
    for params, sid in [({"callId": call_id, "token": "1999999999.forged"}, "CA" + "2" * 32),
                        ({"callId": call_id, "token": "9"}, "CA" + "2" * 32)]:
        ws = await open_stream(line, params, sid)
        msg = await ws.receive()
        assert msg.type is aiohttp.WSMsgType.CLOSE and ws.close_code == 1008
        await ws.close()
    assert line.deepgram.state.connections_opened == 0
    assert (await line.call_row("CA" + "2" * 32))["stream_started_at"] is None


async def admit_call(line: Line, call_sid: str) -> dict[str, str]:
    """Post the signed voice webhook; the stream parameters its TwiML hands to Twilio."""
    form = {"CallSid": call_sid, "From": "+15551230000", "To": "+14155550100"}
    resp = await line.client.post("/api/voice-agent/handle-call", data=form, headers={
        "X-Twilio-Signature": sign(AUTH_TOKEN, PUBLIC_URL + "/api/voice-agent/handle-call", form)})
    body = await resp.text()
    return {"callId": body.split('name="callId" value="')[1].split('"')[0],
            "token": body.split('name="token" value="')[1].split('"')[0]}


async def test_malformed_frame_ends_the_stream_cleanly(line_factory: Any) -> None:
    line = await line_factory()
    params = await admit_call(line, "CA" + "4" * 32)
    ws = await open_stream(line, params, "CA" + "4" * 32)
    await ws.send_str('{"event": "media", "media": {"payload": 42}}')
    while (await ws.receive()).type is not aiohttp.WSMsgType.CLOSE:
        pass
    await ws.close()
    await line.settled()
    assert call_tasks() == []
    assert (await line.call_row("CA" + "4" * 32))["end_reason"] == "protocol_error"
    assert line.deepgram.state.connections_opened == line.deepgram.state.connections_closed


async def test_stream_that_stops_sending_media_is_ended_by_the_watchdog(line_factory: Any) -> None:
    """The media socket has no ping: a Twilio stream silent past media_timeout is ended and cleaned up."""
    line = await line_factory(calls={"media_timeout_seconds": 0.5})
    params = await admit_call(line, "CA" + "5" * 32)
    ws = await open_stream(line, params, "CA" + "5" * 32)
    async with asyncio.timeout(10):
        while (await ws.receive()).type not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            pass
    await ws.close()
    await line.settled()
    assert call_tasks() == []
    assert (await line.call_row("CA" + "5" * 32))["end_reason"] == "media_timeout"
    assert line.deepgram.state.connections_opened == line.deepgram.state.connections_closed == 1


async def test_media_frame_the_shortcut_declines_still_reaches_stt(line_factory: Any) -> None:
    """Base64 with padding msgspec refuses but strict a2b_base64 takes ('...=' after a whole quad) is audio all
    the same: the reader forwards parse_message's Media, so the fast path never decides what the caller said."""
    line = await line_factory()
    params = await admit_call(line, "CA" + "5" * 32)
    ws = await open_stream(line, params, "CA" + "5" * 32)
    audio = base64.b64encode(b"\xff" * 159).decode() + "="
    for chunk in range(1, 6):
        await ws.send_str(Media(chunk + 1, "MZ" + "0" * 32, "inbound", chunk, chunk * 20, b"").to_json()
                          .replace('"payload":""', f'"payload":"{audio}"'))
    await ws.send_str(Stop(7, "MZ" + "0" * 32, "AC" + "0" * 32, "CA" + "5" * 32).to_json())
    while (await ws.receive()).type is not aiohttp.WSMsgType.CLOSE:
        pass
    await ws.close()
    await line.settled()
    assert line.deepgram.state.audio_bytes == 5 * 159
    assert (await line.call_row("CA" + "5" * 32))["end_reason"] == "caller_hung_up"
