"""Media stream admission: a stream without the webhook's exact token for its call is closed 1008 before any provider is reached."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest

from agent_server import stream_tokens
from tests.calls.conftest import AUTH_TOKEN, Line
from tests.calls.test_call_lifecycle import admit_call, open_stream

CALL, OTHER = "CA" + "6" * 32, "CA" + "7" * 32


def providers_reached(line: Line) -> tuple[int, int, int, int]:
    """STT sockets, TTS requests (Deepgram and OpenAI) and LLM requests seen by the fakes."""
    return (line.deepgram.state.connections_opened, len(line.deepgram.state.speak_requests),
            len(line.openai.state.speech_requests), len(line.openai.state.chat_requests))


async def assert_refused(line: Line, params: dict[str, str], call_sid: str) -> None:
    ws = await open_stream(line, params, call_sid)
    msg = await ws.receive(timeout=10)
    assert msg.type is aiohttp.WSMsgType.CLOSE and ws.close_code == 1008
    await ws.close()


def expired(params: dict[str, str], call_sid: str) -> dict[str, str]:
    """The right call and a correctly signed token, minted an hour ago with the webhook's TTL."""
    token = stream_tokens.mint(AUTH_TOKEN, uuid.UUID(params["callId"]), call_sid, 60, now=time.time() - 3600)
    return params | {"token": token}


# (this call's parameters, the other call's) -> what the forged stream sends, and as which CallSid.
Refusal = Callable[[dict[str, str], dict[str, str]], tuple[dict[str, str], str]]
REFUSALS: dict[str, Refusal] = {
    "expired token": lambda params, other: (expired(params, CALL), CALL),
    "token for another CallSid": lambda params, other: (params, OTHER),
    "another call's id with this call's token": lambda params, other: (params | {"callId": other["callId"]}, CALL),
    "no callId": lambda params, other: ({"token": params["token"]}, CALL),
    "no token": lambda params, other: ({"callId": params["callId"]}, CALL),
    "no parameters": lambda params, other: ({}, CALL),
    "callId not a uuid": lambda params, other: (params | {"callId": "42"}, CALL),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
async def test_stream_without_its_calls_valid_token_is_refused_and_reaches_no_provider(line_factory: Any,
                                                                                      case: str) -> None:
    line = await line_factory()
    params, other = await admit_call(line, CALL), await admit_call(line, OTHER)
    await assert_refused(line, *REFUSALS[case](params, other))
    await line.settled()
    assert providers_reached(line) == (0, 0, 0, 0)
    for sid in (CALL, OTHER):
        assert (await line.call_row(sid))["stream_started_at"] is None
    # The refusal spent nothing: the call's own stream is still admitted afterwards.
    ws = await open_stream(line, params, CALL)
    async with asyncio.timeout(10):
        while line.deepgram.state.connections_opened == 0:
            await asyncio.sleep(0.01)
    await ws.close()
    await line.settled()


async def test_second_stream_for_a_live_call_is_refused_and_opens_no_provider_connection(line_factory: Any) -> None:
    """The token is right but the call already streams: the claim in the database refuses the copy."""
    line = await line_factory()
    params = await admit_call(line, CALL)
    first = await open_stream(line, params, CALL)
    async with asyncio.timeout(10):  # the live call's own STT socket and greeting
        while line.deepgram.state.connections_opened == 0 or not line.deepgram.state.speak_requests:
            await asyncio.sleep(0.01)
    before = providers_reached(line)
    await assert_refused(line, params, CALL)
    await asyncio.sleep(0.2)
    assert providers_reached(line) == before
    assert before[0] == 1
    await first.close()
    await line.settled()
    assert line.deepgram.state.connections_opened == line.deepgram.state.connections_closed == 1
