"""Offline TTS with the espeak-ng library bundled in ``espeakng-loader`` (no account, no network).

libespeak-ng keeps global state (one output callback, one current voice), so the process
gets exactly one engine, built on first use and driven under one lock. Synthesis is fast
(seconds of speech in milliseconds) but blocking C, so it runs in a worker thread; the
22050 Hz output is resampled to 8 kHz and mu-law encoded off the event loop too.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import threading
from collections.abc import AsyncGenerator
from typing import Final

import espeakng_loader

from media.audio import g711
from media.audio.resample import StreamResampler
from media.tts.base import TtsError, TtsProvider

_AUDIO_OUTPUT_SYNCHRONOUS: Final = 2
_POS_CHARACTER: Final = 1
_ESPEAK_CHARS_UTF8: Final = 1
_CHUNK_BYTES: Final = 1600
"""200 ms of mu-law per yielded chunk: small enough to start playback at once."""

_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)


class EspeakEngine:
    """The process's libespeak-ng instance; use :func:`espeak_engine` to get it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self._lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self._lib.espeak_Initialize.restype = ctypes.c_int
        self._lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self._lib.espeak_SetVoiceByName.restype = ctypes.c_int
        self._lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        self._lib.espeak_Synth.restype = ctypes.c_int
        data_path = espeakng_loader.get_data_path().encode()
        rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
        if rate <= 0:
            raise TtsError("espeak-ng failed to initialise")
        self.sample_rate: int = rate
        self._pieces: list[bytes] = []
        # Keep a reference: ctypes would free the trampoline while C still points at it.
        self._callback = _SynthCallback(self._collect)
        self._lib.espeak_SetSynthCallback(self._callback)
        self._voice = b""

    def _collect(self, wav: ctypes._Pointer[ctypes.c_short], count: int, _events: int | None) -> int:
        if count > 0:
            self._pieces.append(ctypes.string_at(wav, count * 2))
        return 0

    def synthesize_pcm(self, text: str, voice: str) -> bytes:
        """Blocking: return s16 native-endian PCM at :attr:`sample_rate` for ``text``."""
        encoded = text.encode("utf-8")
        with self._lock:
            if voice.encode() != self._voice:
                if self._lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    raise TtsError(f"espeak-ng has no voice {voice!r}")
                self._voice = voice.encode()
            self._pieces = []
            status = self._lib.espeak_Synth(encoded, len(encoded) + 1, 0, _POS_CHARACTER, 0,
                                            _ESPEAK_CHARS_UTF8, None, None)
            self._lib.espeak_Synchronize()
            pieces, self._pieces = self._pieces, []
        if status != 0:
            raise TtsError(f"espeak-ng synthesis failed with status {status}")
        return b"".join(pieces)


@functools.cache
def espeak_engine() -> EspeakEngine:
    """Return the one engine of this process (the C library cannot host two)."""
    return EspeakEngine()


def _to_phone(pcm: bytes, sample_rate: int) -> bytes:
    """Resample espeak output to 8 kHz and encode mu-law (CPU work for the worker thread)."""
    resampler = StreamResampler(sample_rate, g711.SAMPLE_RATE)
    return g711.encode(resampler.process(pcm) + resampler.flush())


class EspeakTts(TtsProvider):
    """Local TTS provider.

    Args:
        default_voice: espeak-ng voice name used when ``synthesize`` gets none.
    """

    name = "local"

    def __init__(self, default_voice: str = "en-us") -> None:
        self.default_voice = default_voice

    async def synthesize(self, text: str, voice: str | None = None) -> AsyncGenerator[bytes, None]:
        """Yield the whole utterance in 200 ms chunks once espeak-ng has rendered it."""
        if not text.strip():
            return
        mulaw = await asyncio.to_thread(self._render, text, voice or self.default_voice)
        for i in range(0, len(mulaw), _CHUNK_BYTES):
            yield mulaw[i : i + _CHUNK_BYTES]

    @staticmethod
    def _render(text: str, voice: str) -> bytes:
        engine = espeak_engine()
        return _to_phone(engine.synthesize_pcm(text, voice), engine.sample_rate)
