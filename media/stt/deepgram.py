"""Deepgram live STT over a raw aiohttp WebSocket (``/v1/listen``), with reconnect on drops.

The SDK is avoided on purpose: the protocol is one URL, one header, binary audio in and a
few JSON messages out, and the raw client shares the server's aiohttp stack and fakes.
A session survives a dropped socket: audio keeps queueing (bounded), the client reconnects
with backoff, and event times stay on one audio clock by adding the audio already sent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final

import aiohttp
import orjson
import structlog
from yarl import URL

from media.stt.base import (
    SpeechStarted,
    SttError,
    SttEvent,
    SttProvider,
    SttSession,
    SttUnavailable,
    Transcript,
    UtteranceEnd,
    events_until_closed,
)

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL: Final = "https://api.deepgram.com"
_BYTES_PER_SECOND: Final = 8000
_KEEPALIVE: Final = '{"type":"KeepAlive"}'
_CLOSE_STREAM: Final = '{"type":"CloseStream"}'
_STABLE_SECONDS: Final = 5.0
"""A connection that lived this long resets the reconnect budget."""
_MAX_COALESCED: Final = 25
"""Queued chunks sent as one message at most (0.5 s of phone audio, 4 KB)."""


def listen_url(base_url: str, language: str, *, model: str = "nova-3", endpointing_ms: int = 300,
               utterance_end_ms: int = 1000) -> URL:
    """Build the ``/v1/listen`` WebSocket URL from an HTTP(S) base URL (https→wss, http→ws).

    Args:
        base_url: e.g. ``https://api.deepgram.com`` or a fake's ``http://127.0.0.1:port``;
            a path prefix is kept.
        language: BCP-47 tag.
        model: Deepgram model name.
        endpointing_ms: silence that ends a phrase (sets ``speech_final``).
        utterance_end_ms: word gap that emits ``UtteranceEnd``.

    Returns:
        The WebSocket URL with the phone-audio query.
    """
    base = URL(base_url)
    scheme = {"https": "wss", "http": "ws", "wss": "wss", "ws": "ws"}.get(base.scheme)
    if scheme is None:
        raise ValueError(f"unsupported Deepgram base URL scheme: {base.scheme!r}")
    query = {
        "model": model,
        "encoding": "mulaw",
        "sample_rate": "8000",
        "channels": "1",
        "interim_results": "true",
        "endpointing": str(endpointing_ms),
        "utterance_end_ms": str(utterance_end_ms),
        "vad_events": "true",
        "smart_format": "true",
        "punctuate": "true",
        "language": language,
    }
    return base.with_scheme(scheme).with_path(base.path.rstrip("/") + "/v1/listen").with_query(query)


def parse_event(message: Mapping[str, Any], offset: float = 0.0) -> SttEvent | None:
    """Turn one Deepgram JSON message into an event; None for ones we do not act on.

    Args:
        message: the decoded JSON object.
        offset: seconds of audio sent on earlier connections of the same session, so
            times stay monotonic across reconnects.

    Returns:
        The event, or None for ``Metadata`` and unknown types.
    """
    kind = message.get("type")
    if kind == "Results":
        alternatives = _dict(message.get("channel")).get("alternatives")
        first = _dict(alternatives[0]) if isinstance(alternatives, list) and alternatives else {}
        return Transcript(
            text=str(first.get("transcript", "")),
            is_final=message.get("is_final") is True,
            speech_final=message.get("speech_final") is True,
            start=_float(message.get("start")) + offset,
            duration=_float(message.get("duration")),
        )
    if kind == "SpeechStarted":
        return SpeechStarted(timestamp=_float(message.get("timestamp")) + offset)
    if kind == "UtteranceEnd":
        return UtteranceEnd(last_word_end=_float(message.get("last_word_end")) + offset)
    if kind == "Error":
        text = message.get("description") or message.get("message") or "unknown error"
        return SttError(message=f"deepgram: {text}", recoverable=True)
    return None


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


class DeepgramStt(SttProvider):
    """Deepgram live transcription provider.

    Args:
        session: the process's shared aiohttp session.
        api_key: sent as ``Authorization: Token <key>``.
        base_url: HTTP(S) base; the WebSocket URL is derived from it.
        model: Deepgram model.
        keepalive_interval: seconds without audio before a KeepAlive (server closes at ~10 s).
        connect_timeout: seconds allowed for each WebSocket handshake.
        max_reconnects: attempts after a drop before the session gives up.
        backoff: first reconnect delay in seconds, doubled per attempt up to ``max_backoff``.
        max_backoff: cap on the reconnect delay.
        audio_buffer_chunks: audio chunks held while disconnected; older ones are dropped.
        close_timeout: seconds :meth:`DeepgramSession.close` waits for the final results.
    """

    name = "deepgram"

    def __init__(self, session: aiohttp.ClientSession, api_key: str, base_url: str = DEFAULT_BASE_URL, *,
                 model: str = "nova-3", keepalive_interval: float = 4.0, connect_timeout: float = 5.0,
                 max_reconnects: int = 5, backoff: float = 0.25, max_backoff: float = 4.0,
                 audio_buffer_chunks: int = 500, close_timeout: float = 3.0) -> None:
        self._session = session
        self._headers = {"Authorization": f"Token {api_key}"}
        self.base_url = base_url
        self.model = model
        self.keepalive_interval = keepalive_interval
        self.connect_timeout = connect_timeout
        self.max_reconnects = max_reconnects
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.audio_buffer_chunks = audio_buffer_chunks
        self.close_timeout = close_timeout

    async def open_session(self, language: str, *, phrases: Sequence[str] = ()) -> DeepgramSession:
        """Connect and start a session (``phrases`` are not used by this provider).

        Raises:
            SttUnavailable: the first handshake failed or timed out.
        """
        url = listen_url(self.base_url, language, model=self.model)
        try:
            ws = await self.connect(url)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise SttUnavailable(f"deepgram connect failed: {exc!r}") from exc
        return DeepgramSession(self, url, ws)

    async def connect(self, url: URL) -> aiohttp.ClientWebSocketResponse:
        """Open one WebSocket (used for the first connection and every reconnect)."""
        async with asyncio.timeout(self.connect_timeout):
            return await self._session.ws_connect(
                url, headers=self._headers, heartbeat=10.0, max_msg_size=1 << 20,
                timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
            )


class DeepgramSession(SttSession):
    """One call's Deepgram stream; created by :meth:`DeepgramStt.open_session`."""

    def __init__(self, provider: DeepgramStt, url: URL, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._provider = provider
        self._url = url
        self._loop = asyncio.get_running_loop()
        self._audio: deque[bytes] = deque()
        self._wake: asyncio.Future[None] | None = None
        self._idle_ws: aiohttp.ClientWebSocketResponse | None = None
        """The socket while the sender waits with nothing queued: audio may go straight onto it."""
        self._events: asyncio.Queue[SttEvent | None] = asyncio.Queue(256)
        self._closing = False
        self._sent_bytes = 0
        self._last_send = self._loop.time()
        self._ticker: asyncio.TimerHandle | None = None
        self.dropped_chunks = 0
        self.reconnects = 0
        self._failures = 0
        self._task = asyncio.create_task(self._run(ws))

    def send_audio(self, mulaw: bytes) -> None:
        """Queue audio for the sender; past the buffer bound the oldest chunk is dropped (counted).

        The hot path (once per 20 ms per call). When the sender is idle with nothing queued,
        the frame is written onto the socket here and then (:meth:`_write_now`), with no
        task wake-up; otherwise a deque append and, if the sender sleeps, one future
        resolved. No per-frame timer: KeepAlive is driven by a periodic check.
        """
        if self._closing or not mulaw or self._task.done():
            return
        audio = self._audio
        idle = self._idle_ws
        if idle is not None and not audio and self._write_now(idle, mulaw):
            return
        if len(audio) >= self._provider.audio_buffer_chunks:
            audio.popleft()
            self.dropped_chunks += 1
        audio.append(mulaw)
        self._wake_sender()

    def _write_now(self, ws: aiohttp.ClientWebSocketResponse, mulaw: bytes) -> bool:
        """Write one binary frame synchronously, as ``send_bytes`` would; False leaves it to the sender.

        ``send_bytes`` is a coroutine, so calling it from the Twilio reader would need a task
        or the sender's wake-up, which cost as much as the write itself (a future, a task
        step, a coroutine) at 50 frames a second per call. aiohttp's writer frames, masks and
        writes an uncompressed frame synchronously (``_write_websocket_frame``, the call
        ``send_frame`` makes); its flow control is kept by declining while the transport is
        paused or closing, so a slow peer still gets the sender, which awaits the drain.
        """
        writer = ws._writer
        if ws.closed or writer.transport.is_closing() or writer.protocol._paused:
            return False
        try:
            writer._write_websocket_frame(mulaw, aiohttp.WSMsgType.BINARY, 0)
        except ConnectionError:
            return False
        self._sent_bytes += len(mulaw)
        self._last_send = self._loop.time()
        return True

    def _wake_sender(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def __aiter__(self) -> AsyncIterator[SttEvent]:
        return events_until_closed(self._events)

    async def close(self) -> None:
        """Send CloseStream after queued audio, wait for final results, then release."""
        if not self._closing:
            self._closing = True
            self._wake_sender()
        try:
            async with asyncio.timeout(self._provider.close_timeout):
                await asyncio.shield(self._task)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _emit(self, event: SttEvent) -> None:
        await self._events.put(event)

    async def _run(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                opened = loop.time()
                await self._pump(ws)
                if self._closing:
                    return
                if loop.time() - opened >= _STABLE_SECONDS:
                    self._failures = 0
                reconnected = await self._reconnect()
                if reconnected is None:
                    return
                ws = reconnected
        finally:
            await ws.close()
            if self._events.full():
                self._events.get_nowait()
            self._events.put_nowait(None)

    async def _reconnect(self) -> aiohttp.ClientWebSocketResponse | None:
        """Reopen the socket after a drop, with exponential backoff.

        The attempt budget is shared by drops in quick succession (it resets only after a
        connection stayed up for a while), so a server that accepts and immediately drops
        cannot keep a session reconnecting forever.
        """
        provider = self._provider
        while self._failures < provider.max_reconnects:
            self._failures += 1
            attempt = self._failures
            log.warning("stt_reconnecting", provider="deepgram", attempt=attempt)
            await self._emit(SttError(message=f"deepgram connection lost; reconnect attempt {attempt}",
                                      recoverable=True))
            await asyncio.sleep(min(provider.backoff * 2 ** (attempt - 1), provider.max_backoff))
            if self._closing:
                return None
            try:
                ws = await provider.connect(self._url)
            except (aiohttp.ClientError, TimeoutError, OSError):
                continue
            self.reconnects += 1
            return ws
        log.error("stt_gave_up", provider="deepgram", attempts=provider.max_reconnects)
        await self._emit(SttError(message="deepgram connection lost; giving up", recoverable=False))
        return None

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Run one connection until the server closes it or it drops."""
        offset = self._sent_bytes / _BYTES_PER_SECOND
        sender = asyncio.create_task(self._send_loop(ws))
        try:
            async for msg in ws:
                if msg.type is aiohttp.WSMsgType.TEXT:
                    await self._on_text(msg.data, offset)
        finally:
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender

    async def _on_text(self, data: str, offset: float) -> None:
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if isinstance(message, dict):
            event = parse_event(message, offset)
            if event is not None:
                await self._emit(event)

    async def _send_loop(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Forward queued audio; KeepAlive when idle; CloseStream once closing and drained.

        The loop sleeps on a future that :meth:`send_audio` resolves, rather than on a queue
        under ``asyncio.timeout``: the timeout alone cost about 20 µs per frame (a timer
        scheduled and cancelled every 20 ms per call). Idleness is checked every half
        keep-alive interval instead, so a quiet line still gets its KeepAlive.

        Chunks that queued up while the loop was busy (or while reconnecting) go out together,
        up to :data:`_MAX_COALESCED` per message: Deepgram reads a byte stream, so message
        boundaries carry nothing, and under load one send per backlog instead of per frame is
        fewer system calls exactly when they cost most. A frame that finds the sender idle
        still goes out alone, at once: nothing waits to be batched.
        """
        loop = self._loop
        interval = self._provider.keepalive_interval
        self._ticker = loop.call_later(interval / 2, self._keepalive_tick, interval / 2)
        audio = self._audio
        try:
            while True:
                while audio:
                    chunk = audio.popleft() if len(audio) == 1 else _take(audio, _MAX_COALESCED)
                    await ws.send_bytes(chunk)
                    self._sent_bytes += len(chunk)
                    self._last_send = loop.time()
                if self._closing:
                    await ws.send_str(_CLOSE_STREAM)
                    return
                if loop.time() - self._last_send >= interval:
                    await ws.send_str(_KEEPALIVE)
                    self._last_send = loop.time()
                self._wake = loop.create_future()
                self._idle_ws = ws
                try:
                    await self._wake
                finally:
                    self._idle_ws = None
        except (aiohttp.ClientError, ConnectionError):
            await ws.close()
        finally:
            self._wake = None
            if self._ticker is not None:
                self._ticker.cancel()
                self._ticker = None

    def _keepalive_tick(self, period: float) -> None:
        if self._loop.time() - self._last_send >= self._provider.keepalive_interval:
            self._wake_sender()
        self._ticker = self._loop.call_later(period, self._keepalive_tick, period)


def _take(audio: deque[bytes], limit: int) -> bytes:
    """Up to ``limit`` chunks from the front of ``audio``, joined."""
    count = min(len(audio), limit)
    return b"".join([audio.popleft() for _ in range(count)])
