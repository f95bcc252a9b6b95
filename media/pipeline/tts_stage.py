"""Where a reply's sentences become sound: TTS per sentence → 20 ms frames → the reply's playout → Twilio.

Frames go out as fast as TTS delivers them, ahead of playback (the next sentence is
synthesised while this one streams: :mod:`media.pipeline.speech_ahead`); the playout decides which
frames may be sent (none while paused for a barge-in) and where marks go. The first frame
of an answer closes its server-side latency, reported once per turn.

A sentence whose TTS fails (no connection, an HTTP error, a body cut mid-stream) is tried
once more with the same provider, then spoken by the local fallback (espeak-ng), so the
caller hears the rest of the answer in another voice rather than silence. Every attempt
speaks the whole sentence: a cut stream tells us how many bytes arrived, not which words
they held, so the audio already sent stays and the sentence is said again from its start
(as a person restarts a sentence they stumbled on) instead of guessing where it broke.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Final, Protocol

from media.audio.g711 import FrameChunker
from media.pipeline.faults import CallFaults
from media.pipeline.outbound import Outbound
from media.pipeline.reply import Reply
from media.pipeline.speech_cache import SpeechCache
from media.pipeline.telemetry import CallMetrics, TurnTimings, error_kind
from media.tts.base import TtsError, TtsProvider

_PRIMARY_ATTEMPTS: Final = 2
"""The first try and one retry with the call's own provider before the fallback speaks."""


class FrameSink(Protocol):
    """Where one sentence's frames go as TTS delivers them (:mod:`media.pipeline.speech_ahead`)."""

    async def take(self, frames: list[bytes]) -> None: ...


class TtsStage:
    """Synthesises sentences and puts the frames and marks of the one being spoken on the wire.

    Args:
        tts: the process's TTS provider.
        voice: the agent's voice (None = the provider's default).
        fallback: speaks a sentence the provider failed twice on, in its default voice (None: no fallback).
        wire: the call's outbound stream.
        metrics: where turn latencies are reported.
        faults: where each failed attempt is reported.
        loop: the call's event loop (its clock stamps first byte and first frame).
        cache: texts kept synthesised (the tool filler), played from it (None: none kept).
    """

    __slots__ = ("_tts", "_voice", "_fallback", "_wire", "_metrics", "_faults", "_loop", "cache")

    def __init__(self, tts: TtsProvider, voice: str | None, fallback: TtsProvider | None, wire: Outbound,
                 metrics: CallMetrics, faults: CallFaults, loop: asyncio.AbstractEventLoop,
                 cache: SpeechCache | None = None) -> None:
        self.cache = cache
        self._tts = tts
        self._voice = voice
        self._fallback = fallback
        self._wire = wire
        self._metrics = metrics
        self._faults = faults
        self._loop = loop

    async def synthesize(self, text: str, sink: FrameSink) -> None:
        """One sentence's audio into ``sink`` as TTS delivers it: the provider twice, then the fallback.

        When every attempt fails the sentence ends where its audio stopped and the reply goes on
        with its next one (a sentence that got no audio at all is dropped by the playout, so
        the caller is never credited with hearing it).
        """
        kept = None if self.cache is None else self.cache.get(self._tts, self._voice, text)
        if kept is not None:
            await sink.take(list(kept))
            return
        chunker = FrameChunker()
        attempts = [(self._tts, self._voice)] * _PRIMARY_ATTEMPTS
        if self._fallback is not None:
            attempts.append((self._fallback, None))
        for number, (tts, voice) in enumerate(attempts, 1):
            try:
                await self._stream(tts, text, voice, chunker, sink)
                break
            except TtsError as exc:
                self._faults.report("tts", error_kind(exc.status), f"{tts.name} attempt {number}: {exc}")
        tail = chunker.flush()
        if tail is not None:
            await sink.take([tail])

    async def warm(self, texts: list[str]) -> None:
        """Keep `texts` synthesised in this call's voice (see :mod:`media.pipeline.speech_cache`)."""
        if self.cache is not None:
            await self.cache.warm(self._tts, self._voice, texts)

    async def _stream(self, tts: TtsProvider, text: str, voice: str | None, chunker: FrameChunker,
                      sink: FrameSink) -> None:
        audio = tts.synthesize(text, voice)
        async with contextlib.aclosing(audio):
            async for chunk in audio:
                await sink.take(chunker.push(chunk))

    def send(self, reply: Reply, frames: list[bytes]) -> None:
        """Frames of the sentence being spoken (one TTS chunk's, or a buffer's), onto the wire in one write."""
        if reply.tts_first_byte_at is None:
            reply.tts_first_byte_at = self._loop.time()
        for frame in frames:
            self._send_frame(reply, frame)
        self._wire.flush()

    def end_sentence(self, reply: Reply) -> None:
        """The sentence being spoken has all its audio: its end mark follows it."""
        mark = reply.playout.end_sentence()
        if mark is not None:
            self._wire.mark(mark)
        self._wire.flush()

    def finish(self, reply: Reply) -> None:
        """Every sentence is spoken: the reply's end mark."""
        end = reply.playout.finish()
        if end is not None:
            self._wire.mark(end)
            self._wire.flush()

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
