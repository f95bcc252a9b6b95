"""Fixed texts a call says often (the tool filler), synthesised once per TTS provider and voice and kept.

A filler must start the moment it is due (half a second into the caller's wait), so it can't
wait for a TTS first byte: the shell makes one cache per process, each call warms it with its
fillers when it starts, and the TTS stage plays a kept text's frames straight from it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import Final

import structlog

from media.audio.g711 import FrameChunker
from media.tts.base import TtsError, TtsProvider

log = structlog.get_logger(__name__)

MAX_TEXTS: Final = 512
"""Kept texts at most (an action's own filler is one per action and voice): beyond, nothing new is kept."""


class SpeechCache:
    """Frames (20 ms μ-law) by (provider, voice, text)."""

    __slots__ = ("_frames",)

    def __init__(self) -> None:
        self._frames: dict[tuple[str, str | None, str], tuple[bytes, ...]] = {}

    def get(self, tts: TtsProvider, voice: str | None, text: str) -> tuple[bytes, ...] | None:
        return self._frames.get((tts.name, voice, text))

    async def warm(self, tts: TtsProvider, voice: str | None, texts: Iterable[str]) -> None:
        """Synthesise each text not kept yet; a failure leaves it unkept (the call synthesises it when said)."""
        for text in dict.fromkeys(t for t in texts if t):
            key = (tts.name, voice, text)
            if key in self._frames or len(self._frames) >= MAX_TEXTS:
                continue
            chunker = FrameChunker()
            frames: list[bytes] = []
            try:
                audio = tts.synthesize(text, voice)
                async with contextlib.aclosing(audio):
                    async for chunk in audio:
                        frames.extend(chunker.push(chunk))
            except TtsError as exc:
                log.warning("filler_not_kept", error=str(exc))
                continue
            tail = chunker.flush()
            if tail is not None:
                frames.append(tail)
            self._frames[key] = tuple(frames)
