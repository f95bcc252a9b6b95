"""A browser call's audio as binary websocket messages (issue 22): 20 ms frames in the negotiated format, both ways."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from media.audio.web_l16 import mulaw_to_l16
from media.caller_simulator import Say, WebWire
from tests.audio_samples import silence_mulaw
from tests.calls.conftest import speech
from tests.calls.test_live_call import LONG_REPLY
from tests.calls.test_web_calls import _grant, _start

FORMATS = {"l16": ("audio/L16", 16000, mulaw_to_l16, 640), "mulaw": ("audio/x-mulaw", 8000, bytes, 160)}


async def _binary_call(line: Any, fmt: str, *, binary_out: bool) -> tuple[list[int], int, int]:
    """A raw browser client that sends its line as binary frames: (sizes of binary frames heard, JSON media
    messages heard, marks echoed)."""
    encoding, rate, convert, _ = FORMATS[fmt]
    grant = await _grant(line)
    said, quiet = convert(speech(0.5)), convert(silence_mulaw(0.02))
    step = len(quiet)
    frames = [said[i:i + step] for i in range(0, len(said), step)]
    start = json.loads(_start(grant["token"], encoding, rate))
    if binary_out:
        start["start"]["customParameters"]["frames"] = "binary"
    heard: list[int] = []
    counts = {"media": 0, "marks": 0}
    async with line.http.ws_connect(line.simulator()._local(grant["url"])) as ws:
        await ws.send_str(json.dumps(start))

        async def listen() -> None:
            async for message in ws:
                if message.type is aiohttp.WSMsgType.BINARY:
                    heard.append(len(message.data))
                    continue
                event = json.loads(message.data)
                if event["event"] == "media":
                    counts["media"] += 1
                elif event["event"] == "mark":
                    counts["marks"] += 1
                    await ws.send_str(json.dumps({"event": "mark", "sequenceNumber": "0", "streamSid": "MZ1",
                                                  "mark": event["mark"]}))

        listener = asyncio.create_task(listen())
        for frame in [quiet] * 100 + frames + [quiet] * 150:  # 2 s, the line, 3 s: the answer comes meanwhile
            await ws.send_bytes(frame)
            await asyncio.sleep(0.02)
        await ws.send_str(json.dumps({"event": "stop", "sequenceNumber": "2", "streamSid": "MZ1",
                                      "stop": {"accountSid": "AC1", "callSid": ""}}))
        listener.cancel()
        await asyncio.gather(listener, return_exceptions=True)
    await line.settled()
    call_sid = await line.pool.fetchval("SELECT call_sid FROM calls WHERE id = $1", grant["callId"])
    texts = [t["text"] for t in await line.turns(call_sid) if t["role"] == "assistant"]
    assert texts == ["Hello, thanks for calling Acme.", "We open at nine."]  # the binary line was heard
    return heard, counts["media"], counts["marks"]


@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_a_browser_asking_for_binary_frames_gets_20_ms_frames_of_its_format_and_json_marks(
        line_factory: Any, fmt: str) -> None:
    line = await line_factory()
    line.deepgram.state.say("What are your opening hours?")
    line.openai.state.script("We open at nine.")
    heard, media, marks = await _binary_call(line, fmt, binary_out=True)
    assert heard and set(heard) == {FORMATS[fmt][3]}
    assert media == 0 and marks > 0


async def test_binary_frames_in_are_taken_while_the_agent_answers_in_media_messages_unless_asked(
        line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("What are your opening hours?")
    line.openai.state.script("We open at nine.")
    heard, media, marks = await _binary_call(line, "mulaw", binary_out=False)
    assert heard == [] and media > 0 and marks > 0



@pytest.mark.parametrize("wire", [WebWire(l16=True), WebWire(l16=True, binary=True), WebWire(binary=True)],
                         ids=["l16", "l16-binary", "mulaw-binary"])
async def test_the_simulators_browser_call_in_each_format_barges_in_echoes_marks_and_is_billed(
        line_factory: Any, wire: WebWire) -> None:
    line = await line_factory()
    line.deepgram.state.say("When are you open?", "Wait, stop please.")
    line.openai.state.script(LONG_REPLY, "Sure, I stopped.")
    grant = await _grant(line)
    result = await line.simulator().web_call(grant["url"], grant["token"],
                                             [Say(speech()), Say(speech(0.6), barge_in_after=0.5)], wire=wire)
    await line.settled()
    assert result.clears == 1 and len(result.barge_in_latencies_ms) == 1 and result.marks_echoed > 0
    call = await line.pool.fetchrow("SELECT * FROM calls WHERE id = $1", grant["callId"])
    turns = await line.turns(call["call_sid"])
    cut = [t["text"] for t in turns if t["interrupted"]]
    assert len(cut) == 1 and LONG_REPLY.startswith(cut[0])
    assert turns[-1]["text"] == "Sure, I stopped."
    meter = await line.pool.fetchrow("SELECT * FROM call_meters WHERE call_sid = $1", call["call_sid"])
    assert meter is not None and meter["settled_seconds"] == call["duration_seconds"] >= 1
