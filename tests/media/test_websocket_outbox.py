"""The coalescing WebSocket outbox: frames a real client decodes, in order, with aiohttp's own frames between."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from media.protocol.websocket_outbox import WebSocketOutbox, text_frame_header

SIZES = (0, 1, 125, 126, 65535, 65536, 70000)


@pytest.mark.parametrize(("length", "header"), [
    (0, b"\x81\x00"), (125, b"\x81\x7d"), (126, b"\x81\x7e\x00\x7e"), (65535, b"\x81\x7e\xff\xff"),
    (65536, b"\x81\x7f" + (65536).to_bytes(8, "big")),
])
def test_text_frame_header_follows_rfc_6455_length_forms(length: int, header: bytes) -> None:
    """7-bit, 16-bit and 64-bit lengths, FIN set, text opcode, no mask bit (server to client)."""
    assert text_frame_header(length) == header


def test_text_frame_header_rejects_negative_lengths() -> None:
    with pytest.raises(ValueError):
        text_frame_header(-1)


ServerBody = Callable[[web.WebSocketResponse, WebSocketOutbox], Awaitable[None]]


async def _serve(aiohttp_client: Any, body: ServerBody) -> aiohttp.ClientWebSocketResponse:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        assert request.transport is not None
        outbox = WebSocketOutbox(ws, request.transport, max_buffer=1 << 16)
        await body(ws, outbox)
        async for _ in ws:
            pass
        return ws

    app = web.Application()
    app.router.add_get("/ws", handler)
    client = await aiohttp_client(app)
    ws: aiohttp.ClientWebSocketResponse = await client.ws_connect("/ws")
    return ws


async def test_a_burst_arrives_as_separate_messages_in_order(aiohttp_client: Any) -> None:
    """Every length form decodes, and frames sent by aiohttp itself keep their place in the order."""
    async def body(ws: web.WebSocketResponse, outbox: WebSocketOutbox) -> None:
        for size in SIZES:
            outbox.send(b"x" * size)
        outbox.flush()
        await ws.send_str("from aiohttp")
        outbox.send("é".encode())

    ws = await _serve(aiohttp_client, body)
    received = [await ws.receive_str() for _ in range(len(SIZES) + 2)]
    assert [len(m) for m in received[: len(SIZES)]] == list(SIZES)
    assert received[len(SIZES):] == ["from aiohttp", "é"]
    await ws.close()


async def test_unflushed_frames_go_out_on_the_next_loop_turn(aiohttp_client: Any) -> None:
    """Forgetting flush() delays a frame by one loop turn, never loses it."""
    async def body(ws: web.WebSocketResponse, outbox: WebSocketOutbox) -> None:
        outbox.send(b"late but delivered")

    ws = await _serve(aiohttp_client, body)
    async with asyncio.timeout(5):
        assert await ws.receive_str() == "late but delivered"
    await ws.close()


async def test_sends_after_close_raise_and_nothing_follows_the_close_frame(aiohttp_client: Any) -> None:
    """Once the server closes, queued frames are dropped and new sends fail with ConnectionError."""
    outcome: list[str] = []

    async def body(ws: web.WebSocketResponse, outbox: WebSocketOutbox) -> None:
        outbox.send(b"before close")
        await outbox.close()
        try:
            outbox.send(b"after close")
        except ConnectionError:
            outcome.append("refused")

    ws = await _serve(aiohttp_client, body)
    assert await ws.receive_str() == "before close"
    message = await ws.receive()
    assert message.type is aiohttp.WSMsgType.CLOSE
    async with asyncio.timeout(5):
        while not outcome:
            await asyncio.sleep(0.01)
    assert outcome == ["refused"]


async def test_a_peer_that_stops_reading_is_refused_past_the_bound(aiohttp_client: Any) -> None:
    """Unread output beyond max_buffer turns into ConnectionError instead of unbounded memory."""
    outcome: list[int] = []

    async def body(ws: web.WebSocketResponse, outbox: WebSocketOutbox) -> None:
        chunk = b"y" * 60_000
        try:
            for sent in range(10_000):
                outbox.send(chunk)
                outbox.flush()
        except ConnectionError:
            outcome.append(sent)

    ws = await _serve(aiohttp_client, body)
    assert outcome and outcome[0] < 10_000
    await ws.close()
