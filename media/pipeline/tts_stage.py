"""Where a reply's sentences become sound: TTS per sentence → 20 ms frames → the reply's playout → Twilio.

Frames go out as fast as TTS delivers them, ahead of playback; the playout decides which
frames may be sent (none while paused for a barge-in) and where marks go. The first frame
of an answer closes its server-side latency, reported once per turn.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from media.audio.g711 import FrameChunker
from media.pipeline.outbound import Outbound
from media.pipeline.reply import Reply, Sentences
from media.pipeline.telemetry import CallMetrics, TurnTimings, error_kind
from media.tts.base import TtsError, TtsProvider

log = structlog.get_logger(__name__)


class TtsStage:
    """Speaks the sentences of one reply at a time.

    Args:
        tts: the process's TTS provider.
        voice: the agent's voice (None = the provider's default).
        wire: the call's outbound stream.
        metrics: where turn latencies and provider errors are reported.
        loop: the call's event loop (its clock stamps first byte and first frame).
    """

    __slots__ = ("_tts", "_voice", "_wire", "_metrics", "_loop")

    def __init__(self, tts: TtsProvider, voice: str | None, wire: Outbound, metrics: CallMetrics,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._tts = tts
        self._voice = voice
        self._wire = wire
        self._metrics = metrics
        self._loop = loop

    async def speak(self, reply: Reply, sentences: Sentences) -> None:
        """Synthesize and send every sentence until the queue's None, then the reply's end mark."""
        playout = reply.playout
        wire = self._wire
        while (text := await sentences.get()) is not None:
            if reply.stop_after_sentence and playout.full_text():
                continue
            playout.start_sentence(text)
            await self._synthesize(reply, text)
            mark = playout.end_sentence()
            if mark is not None:
                wire.mark(mark)
            wire.flush()
        end = playout.finish()
        if end is not None:
            wire.mark(end)
            wire.flush()

    async def _synthesize(self, reply: Reply, text: str) -> None:
        """One sentence's audio onto the wire as TTS delivers it.

        A TTS error is reported and ends this sentence's audio where it stopped; the reply goes
        on with its next sentence (one that got no audio at all is dropped by the playout, so
        the caller is never credited with hearing it).
        """
        chunker = FrameChunker()
        try:
            audio = self._tts.synthesize(text, self._voice)
            async with contextlib.aclosing(audio):
                async for chunk in audio:
                    if reply.tts_first_byte_at is None:
                        reply.tts_first_byte_at = self._loop.time()
                    for frame in chunker.push(chunk):
                        self._send_frame(reply, frame)
                    self._wire.flush()
            tail = chunker.flush()
            if tail is not None:
                self._send_frame(reply, tail)
        except TtsError as exc:
            log.warning("tts_failed", error=str(exc), status=exc.status)
            self._metrics.provider_error("tts", error_kind(exc.status))

    def _send_frame(self, reply: Reply, frame: bytes) -> None:
        send = reply.playout.add_frame(frame)
        if send is None:
            return
        if reply.server_latency_ms is None and reply.turn_end_at is not None:
            now = self._loop.time()
            reply.server_latency_ms = round((now - reply.turn_end_at) * 1000)
            self._metrics.turn(TurnTimings(reply.turn_end_at, reply.llm_first_token_at, reply.tts_first_byte_at, now))
        self._wire.media(frame)
        if send.mark is not None:
            self._wire.mark(send.mark)
