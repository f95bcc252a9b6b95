"""A local Deepgram that speaks the real wire protocol: live STT (``/v1/listen``) and Aura (``/v1/speak``).

Transcripts are scripted, not recognised: the fake holds a queue of utterance texts and
releases the next one whenever it hears speech (energy above a threshold in the mu-law it
receives) followed by ``endpointing`` ms of silence, all measured in *audio* time, so tests
may send audio faster than real time and still get deterministic results. Usable from
tests and from bench scripts::

    fake = FakeDeepgram(final_delay=0.05)
    base_url = await fake.start()          # http://127.0.0.1:PORT
    fake.state.say("book me for monday")
    ...
    await fake.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import uuid
from typing import Any, Final

import numpy as np
import orjson
from aiohttp import WSMsgType, web

from media.audio import g711
from tests.audio_samples import tone_mulaw
from tests.fake_deepgram_state import FakeDeepgramOptions, FakeDeepgramState, SpeakFault, SpeakRequest
from tests.fake_http import serve_locally, stream_body

FRAME_SECONDS = g711.FRAME_BYTES / g711.SAMPLE_RATE
_SQUARES: Final = g711.decode_array(bytes(range(256))).astype(np.int64) ** 2
"""The square of each mu-law code's decoded sample: a frame's energy is a lookup and a sum."""


@functools.lru_cache(maxsize=256)
def _aura_audio(seconds: float) -> bytes:
    """The tone ``/v1/speak`` answers with, by length.

    Bench calls ask for the same few sentences again and again, and computing the sine for
    each request was 6-8% of the fakes' CPU in a 100-call bench profile.
    """
    return tone_mulaw(seconds, freq=300.0)


@functools.lru_cache(maxsize=4096)
def _voiced(frame: bytes, threshold: float) -> bool:
    """Whether the frame's RMS is above ``threshold``: its sum of squares above ``threshold·|threshold|·n``.

    Runs once per 20 ms frame per call, so in bench runs it was the fake's main cost: exact
    integer energy from a 256-entry table (about 3 µs) instead of decoding to float32 and
    taking a mean and a square root (about 20 µs); silence, most of a call, is one compare.
    ``|threshold|`` keeps a negative threshold meaning "always voiced", as RMS > threshold did.
    Cached by content: bench callers say the same few lines, so a voiced frame is a lookup.
    """
    energy = 0 if frame == g711.SILENCE_FRAME else int(_SQUARES.take(np.frombuffer(frame, dtype=np.uint8)).sum())
    return energy > threshold * abs(threshold) * len(frame)


class _Listener:
    """Per-connection energy detector that turns audio into scripted Deepgram messages."""

    def __init__(self, state: FakeDeepgramState, ws: web.WebSocketResponse, endpointing: float,
                 utterance_end: float) -> None:
        self.state = state
        self.ws = ws
        self.endpointing = endpointing
        self.utterance_end = utterance_end
        self.outbox: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        self.pending = b""
        self.received = 0
        self.frames = 0
        self.in_speech = False
        self.speech_start = 0.0
        self.speech_frames = 0
        self.silent_frames = 0
        self.interim_sent = False
        self.awaiting_utterance_end: float | None = None

    def send(self, message: dict[str, Any], delay: float = 0.0) -> None:
        loop = asyncio.get_running_loop()
        self.outbox.put_nowait((loop.time() + delay, orjson.dumps(message)))

    async def writer(self) -> None:
        loop = asyncio.get_running_loop()
        while (item := await self.outbox.get()) is not None:
            due, data = item
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            if self.ws.closed:
                return
            with contextlib.suppress(ConnectionError):
                await self.ws.send_str(data.decode())

    def audio(self, data: bytes) -> None:
        self.received += len(data)
        self.state.audio_bytes += len(data)
        self.state.audio_messages += 1
        if not self.pending and len(data) == g711.FRAME_BYTES:
            self._frame(data)  # the usual message: one whole 20 ms frame
            return
        frames, self.pending = g711.frames_160(data, self.pending)
        for frame in frames:
            self._frame(frame)

    def _frame(self, frame: bytes) -> None:
        self.frames += 1
        now = self.frames * FRAME_SECONDS
        voiced = _voiced(frame, self.state.options.speech_threshold)
        if not self.in_speech:
            if voiced:
                self._start(now - FRAME_SECONDS)
            elif self.awaiting_utterance_end is not None and now - self.awaiting_utterance_end >= self.utterance_end:
                self.send({"type": "UtteranceEnd", "channel": [0, 1], "last_word_end": self.awaiting_utterance_end})
                self.awaiting_utterance_end = None
            return
        self.speech_frames += 1
        self.silent_frames = 0 if voiced else self.silent_frames + 1
        if not self.interim_sent and self.speech_frames * FRAME_SECONDS >= self.state.options.interim_after:
            self.interim_sent = True
            words = self._peek().split()
            self.send(self._results(" ".join(words[: max(1, len(words) // 2)]), False, False, now),
                      self.state.options.interim_delay)
        if self.silent_frames * FRAME_SECONDS >= self.endpointing:
            self.finish(speech_final=True)

    def _start(self, at: float) -> None:
        self.in_speech = True
        self.speech_start = at
        self.speech_frames = 0
        self.silent_frames = 0
        self.interim_sent = False
        self.awaiting_utterance_end = None
        self.send({"type": "SpeechStarted", "channel": [0], "timestamp": round(at, 3)})

    def _peek(self) -> str:
        return self.state.script[0] if self.state.script else self.state.default_transcript

    def finish(self, *, speech_final: bool, from_finalize: bool = False) -> None:
        """Close the current utterance with a final result carrying the next scripted text."""
        if not self.in_speech:
            return
        end = self.frames * FRAME_SECONDS - self.silent_frames * FRAME_SECONDS
        text = self.state.script.popleft() if self.state.script else self.state.default_transcript
        message = self._results(text, True, speech_final, end)
        message["from_finalize"] = from_finalize
        self.send(message, self.state.options.final_delay)
        self.in_speech = False
        self.awaiting_utterance_end = round(end, 3)

    def _results(self, text: str, is_final: bool, speech_final: bool, end: float) -> dict[str, Any]:
        start = round(self.speech_start, 3)
        duration = round(max(end - self.speech_start, 0.0), 3)
        words = text.split()
        step = duration / max(len(words), 1)
        return {
            "type": "Results",
            "channel_index": [0, 1],
            "duration": duration,
            "start": start,
            "is_final": is_final,
            "speech_final": speech_final,
            "from_finalize": False,
            "channel": {"alternatives": [{
                "transcript": text,
                "confidence": 0.98 if text else 0.0,
                "words": [{"word": w.lower().strip(".,?!"), "start": round(start + i * step, 3),
                           "end": round(start + (i + 1) * step, 3), "confidence": 0.98, "punctuated_word": w}
                          for i, w in enumerate(words)],
            }]},
            "metadata": {"request_id": str(uuid.uuid4()), "model_uuid": str(uuid.uuid4()),
                         "model_info": {"name": "2-general-nova", "version": "fake", "arch": "nova-3"}},
        }


class FakeDeepgram:
    """The fake server; construct with :class:`FakeDeepgramOptions` fields as keywords."""

    def __init__(self, **options: Any) -> None:
        self.state = FakeDeepgramState(options=FakeDeepgramOptions(**options))
        self.base_url = ""
        self._runner: web.AppRunner | None = None

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Token {self.state.options.api_key}"

    async def _listen(self, request: web.Request) -> web.StreamResponse:
        state = self.state
        if not self._authorized(request):
            return web.json_response({"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."}, status=401)
        if state.reject_handshakes > 0:
            state.reject_handshakes -= 1
            state.rejected_handshakes += 1
            return web.json_response({"err_code": "UNAVAILABLE", "err_msg": "try again"}, status=503)
        query = dict(request.query)
        ws = web.WebSocketResponse(max_msg_size=1 << 20)
        await ws.prepare(request)
        state.connections_opened += 1
        state.listen_queries.append(query)
        state.sockets.add(ws)
        if request.transport is not None:
            state._transports[ws] = request.transport
        listener = _Listener(state, ws, int(query.get("endpointing", "300")) / 1000,
                             int(query.get("utterance_end_ms", "1000")) / 1000)
        writer = asyncio.create_task(listener.writer())
        try:
            await self._receive(ws, listener, request)
        finally:
            listener.outbox.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 2.0)
            state.sockets.discard(ws)
            state._transports.pop(ws, None)
            state.connections_closed += 1
        return ws

    async def _receive(self, ws: web.WebSocketResponse, listener: _Listener, request: web.Request) -> None:
        state = self.state
        async for msg in ws:
            if msg.type is WSMsgType.BINARY:
                listener.audio(msg.data)
                if state.drop_after_bytes is not None and listener.received >= state.drop_after_bytes:
                    state.drop_after_bytes = None
                    if request.transport is not None:
                        request.transport.abort()
                    return
            elif msg.type is WSMsgType.TEXT:
                kind = orjson.loads(msg.data).get("type")
                if kind == "KeepAlive":
                    state.keepalives += 1
                elif kind == "Finalize":
                    state.finalizes += 1
                    listener.finish(speech_final=False, from_finalize=True)
                elif kind == "CloseStream":
                    state.close_streams += 1
                    listener.finish(speech_final=True)
                    listener.send({"type": "Metadata", "transaction_key": "deprecated",
                                   "request_id": str(uuid.uuid4()), "sha256": "0" * 64,
                                   "created": "2026-01-01T00:00:00.000Z",
                                   "duration": round(listener.received / g711.SAMPLE_RATE, 3), "channels": 1})
                    listener.outbox.put_nowait(None)
                    await asyncio.sleep(0)
                    return

    async def _speak(self, request: web.Request) -> web.StreamResponse:
        state, options = self.state, self.state.options
        if not self._authorized(request):
            return web.json_response({"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."}, status=401)
        query = dict(request.query)
        body = await request.json()
        text = body.get("text") if isinstance(body, dict) else None
        state.speak_requests.append(SpeakRequest(query=query, text=str(text),
                                                 authorization=request.headers.get("Authorization", ""),
                                                 at=time.monotonic()))
        if options.voices is not None and query.get("model") not in options.voices:
            return web.json_response({"err_code": "INVALID_QUERY_PARAMETER",
                                      "err_msg": f"No such model: {query.get('model')}"}, status=400)
        if state.speak_failures:
            return web.json_response({"err_code": "FAILED", "err_msg": "scripted failure"},
                                     status=state.speak_failures.popleft())
        fault = next((f for f in state.speak_faults if f.text is None or f.text in str(text)), None)
        if fault is not None:
            state.speak_faults.remove(fault)
            return await self._speak_fault(request, fault, len(str(text)) * options.speak_bytes_per_char)
        wanted = {"encoding": "mulaw", "sample_rate": "8000", "container": "none"}
        if not isinstance(text, str) or not text or "model" not in query or any(
                query.get(k) != v for k, v in wanted.items()):
            return web.json_response({"err_code": "INVALID_QUERY_PARAMETER", "err_msg": "bad request"}, status=400)
        audio = _aura_audio(len(text) * options.speak_bytes_per_char / g711.SAMPLE_RATE)
        return await stream_body(request, audio, content_type="audio/mulaw",
                                 first_byte_delay=options.speak_first_byte_delay,
                                 chunk_bytes=options.speak_chunk_bytes, chunk_delay=options.speak_chunk_delay)

    async def _speak_fault(self, request: web.Request, fault: SpeakFault, audio_bytes: int) -> web.StreamResponse:
        """Fail one speak request the way ``fault`` says."""
        if fault.kind == "status":
            self.state.speak_fault_times.append(time.monotonic())
            return web.json_response({"err_code": "FAILED", "err_msg": "scripted failure"}, status=fault.status)
        resp = web.StreamResponse(headers={"Content-Type": "audio/mulaw"})
        if fault.kind == "cut":
            await resp.prepare(request)
            await resp.write(_aura_audio(audio_bytes / g711.SAMPLE_RATE)[: fault.cut_after_bytes])
            await asyncio.sleep(0.01)  # the bytes leave the socket before the reset
        self.state.speak_fault_times.append(time.monotonic())
        if request.transport is not None:
            request.transport.abort()
        return resp

    def add_routes(self, app: web.Application) -> None:
        """Serve this fake's routes from ``app`` (a bench serves several fakes from one port)."""
        app.router.add_get("/v1/listen", self._listen)
        app.router.add_post("/v1/speak", self._speak)

    async def start(self) -> str:
        """Listen on 127.0.0.1 (a free port); return the HTTP base URL."""
        app = web.Application()
        self.add_routes(app)
        self._runner, port = await serve_locally(app)
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def close(self) -> None:
        """Close open sockets and stop the server."""
        for ws in list(self.state.sockets):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
