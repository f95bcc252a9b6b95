"""Offline STT with pocketsphinx: energy VAD cuts utterances, one shared decoder transcribes them.

The decoder takes ~0.4 s to load (holding the GIL) and is not thread-safe, so there is one
per process, with the single worker thread every decode runs on (never the event loop);
calls queue behind each other. Providers share it: an app built again in the same process
(the tests build hundreds) does not load the model again. The generic language model is slow and weak on phone
audio, so a session may pass its likely phrases (the agent's FAQ questions): they become a
JSGF grammar tried first, with the generic model as fallback when nothing in it matches.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Final, TypeVar

import numpy as np
from numpy.typing import NDArray
from pocketsphinx import Decoder

from media.audio import g711
from media.audio.resample import StreamResampler
from media.stt.base import (
    SpeechStarted,
    SttError,
    SttEvent,
    SttProvider,
    SttSession,
    Transcript,
    UtteranceEnd,
    events_until_closed,
)
from media.stt.vad import EnergyVad, VoiceEnd, VoiceStart

_T = TypeVar("_T")
_DECODER_RATE: Final = 16000
_WORD: Final = re.compile(r"[a-z']+")
_TAIL_SILENCE: Final = np.zeros(_DECODER_RATE // 4, dtype=np.int16)
"""A quarter second of silence after the utterance lets the grammar search reach its end state."""


def jsgf_grammar(phrases: Sequence[str], known: set[str] | None = None) -> str | None:
    """Build a JSGF grammar accepting exactly the given phrases (lower-cased, punctuation dropped).

    Args:
        phrases: sentences the caller is likely to say.
        known: words the dictionary knows; phrases with other words are left out because
            pocketsphinx rejects a grammar with unknown words. None keeps all.

    Returns:
        The grammar text, or None when no phrase is usable.
    """
    alternatives: list[str] = []
    for phrase in phrases:
        words = _WORD.findall(phrase.lower())
        if words and (known is None or all(w in known for w in words)):
            line = " ".join(words)
            if line not in alternatives:
                alternatives.append(line)
    if not alternatives:
        return None
    return "#JSGF V1.0;\ngrammar phrases;\npublic <phrase> = " + " | ".join(alternatives) + ";\n"


class _DecoderHost:
    """Owns the pocketsphinx decoder; every method runs on the provider's worker thread."""

    def __init__(self) -> None:
        self._decoder: Decoder | None = None
        self._grammars: set[str] = set()

    def decoder(self) -> Decoder:
        if self._decoder is None:
            self._decoder = Decoder(loglevel="FATAL")
        return self._decoder

    def add_grammar(self, phrases: Sequence[str]) -> str | None:
        decoder = self.decoder()
        words = {w for p in phrases for w in _WORD.findall(p.lower())}
        grammar = jsgf_grammar(phrases, {w for w in words if decoder.lookup_word(w) is not None})
        if grammar is None:
            return None
        name = "g" + hashlib.sha1(grammar.encode()).hexdigest()[:16]
        if name not in self._grammars:
            decoder.add_jsgf_string(name, grammar)
            self._grammars.add(name)
        return name

    def decode(self, pcm16: bytes, grammar: str | None, fallback: bool) -> str:
        decoder = self.decoder()
        searches: list[str | None] = [grammar] if grammar else []
        if fallback or not searches:
            searches.append(None)
        for search in searches:
            decoder.activate_search(search)
            decoder.start_utt()
            decoder.process_raw(pcm16, False, True)
            decoder.end_utt()
            hyp = decoder.hyp()
            if hyp is not None and hyp.hypstr:
                return str(hyp.hypstr)
        return ""


@functools.cache
def _process_decoder() -> tuple[_DecoderHost, ThreadPoolExecutor]:
    """The process's decoder and the one thread that may touch it (loaded on first use, kept until exit)."""
    return _DecoderHost(), ThreadPoolExecutor(max_workers=1, thread_name_prefix="pocketsphinx")


class PocketsphinxStt(SttProvider):
    """Local STT provider.

    Args:
        fallback_to_generic: decode with the generic model when the grammar finds nothing
            (slower: roughly a third of the utterance's duration on one core).
        vad_threshold: RMS threshold for :class:`EnergyVad`.
        end_silence: seconds of silence that end an utterance.
    """

    name = "local"

    def __init__(self, *, fallback_to_generic: bool = True, vad_threshold: float = 400.0,
                 end_silence: float = 0.5) -> None:
        self.fallback_to_generic = fallback_to_generic
        self.vad_threshold = vad_threshold
        self.end_silence = end_silence
        self._host, self._executor = _process_decoder()

    async def _on_worker(self, fn: Callable[..., _T], *args: object) -> _T:
        """Run ``fn`` on the decoder's worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def open_session(self, language: str, *, phrases: Sequence[str] = ()) -> LocalSttSession:
        """Start a session; loads the decoder on first use and registers ``phrases`` as a grammar.

        ``language`` is accepted for interface parity; the bundled model is US English.
        """
        grammar = await self._on_worker(self._host.add_grammar, list(phrases))
        return LocalSttSession(self, grammar)

    async def transcribe(self, audio8k: NDArray[np.int16], grammar: str | None) -> str:
        """Decode one utterance of 8 kHz audio (resampled to 16 kHz off the event loop)."""
        pcm16 = await self._on_worker(_to_decoder_rate, audio8k)
        return await self._on_worker(self._host.decode, pcm16, grammar, self.fallback_to_generic)

    async def aclose(self) -> None:
        """Nothing to release: the decoder and its thread are the process's (see :func:`_process_decoder`)."""


def _to_decoder_rate(audio8k: NDArray[np.int16]) -> bytes:
    resampler = StreamResampler(g711.SAMPLE_RATE, _DECODER_RATE)
    pcm = resampler.process(audio8k.astype("<i2").tobytes()) + resampler.flush()
    return pcm + _TAIL_SILENCE.tobytes()


class LocalSttSession(SttSession):
    """One call's local recognition: VAD on the event loop (cheap), decoding on the worker."""

    def __init__(self, provider: PocketsphinxStt, grammar: str | None) -> None:
        self._provider = provider
        self._grammar = grammar
        self._vad = EnergyVad(threshold=provider.vad_threshold, end_silence=provider.end_silence)
        self._utterances: asyncio.Queue[VoiceEnd | None] = asyncio.Queue(8)
        self._events: asyncio.Queue[SttEvent | None] = asyncio.Queue(256)
        self._closing = False
        self._worker = asyncio.create_task(self._decode_loop())

    def send_audio(self, mulaw: bytes) -> None:
        """Run the VAD; emit SpeechStarted now and queue finished utterances for decoding."""
        if self._closing:
            return
        for event in self._vad.process(mulaw):
            self._handle(event)

    def _handle(self, event: VoiceStart | VoiceEnd) -> None:
        if isinstance(event, VoiceStart):
            self._put_event(SpeechStarted(timestamp=event.at))
            return
        if self._utterances.full():
            self._put_event(SttError(message="local stt is behind; utterance dropped", recoverable=True))
            return
        self._utterances.put_nowait(event)

    def _put_event(self, event: SttEvent | None) -> None:
        if self._events.full():
            self._events.get_nowait()
        self._events.put_nowait(event)

    def __aiter__(self) -> AsyncIterator[SttEvent]:
        return events_until_closed(self._events)

    async def _decode_loop(self) -> None:
        try:
            while (utterance := await self._utterances.get()) is not None:
                try:
                    text = await self._provider.transcribe(utterance.audio, self._grammar)
                except Exception as exc:  # a decoder failure must not end the call's STT
                    self._put_event(SttError(message=f"local stt failed: {exc!r}", recoverable=True))
                    continue
                duration = utterance.end - utterance.start
                self._put_event(Transcript(text=text, is_final=True, speech_final=True,
                                           start=utterance.start, duration=duration))
                self._put_event(UtteranceEnd(last_word_end=utterance.end))
        finally:
            self._put_event(None)

    async def close(self) -> None:
        """Decode a pending utterance, deliver its transcript, end iteration."""
        if not self._closing:
            self._closing = True
            for event in self._vad.flush():
                self._handle(event)
            await self._utterances.put(None)
        await asyncio.shield(self._worker)
