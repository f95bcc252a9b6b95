"""A small energy voice-activity detector over 8 kHz mu-law, cutting audio into utterances.

Used by the local STT (pocketsphinx decodes whole utterances) and by test fakes that must
decide when a simulated caller stopped talking. Pure: audio in, events out, no clock but
the audio itself.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final, TypeAlias

import numpy as np
from numpy.typing import NDArray

from media.audio import g711

_FRAME: Final = g711.FRAME_BYTES
_FRAME_SECONDS: Final = _FRAME / g711.SAMPLE_RATE


@dataclass(frozen=True, slots=True)
class VoiceStart:
    """Speech began at ``at`` seconds of audio time."""

    at: float


@dataclass(frozen=True, slots=True)
class VoiceEnd:
    """Speech ended; ``audio`` is the utterance as 8 kHz int16 including pre-roll and hangover."""

    start: float
    end: float
    audio: NDArray[np.int16]


VadEvent: TypeAlias = VoiceStart | VoiceEnd


class EnergyVad:
    """Frame-RMS detector with onset debounce, pre-roll and a silence hangover.

    Args:
        threshold: RMS (in 16-bit units) above which a 20 ms frame counts as voiced.
        start_frames: consecutive voiced frames needed to declare speech (ignores clicks).
        end_silence: seconds of unvoiced audio that end an utterance (the gaps between
            words are shorter).
        preroll: seconds kept before the onset so soft word starts are not clipped.
        max_utterance: seconds after which an utterance is cut even without a pause.
    """

    def __init__(self, *, threshold: float = 400.0, start_frames: int = 2, end_silence: float = 0.5,
                 preroll: float = 0.2, max_utterance: float = 15.0) -> None:
        self.threshold = threshold
        self.start_frames = start_frames
        self._end_frames = max(1, round(end_silence / _FRAME_SECONDS))
        self._max_frames = max(1, round(max_utterance / _FRAME_SECONDS))
        self._preroll: deque[NDArray[np.int16]] = deque(maxlen=round(preroll / _FRAME_SECONDS) + start_frames)
        self._pending = b""
        self._frames_seen = 0
        self._voiced_run = 0
        self._silent_run = 0
        self._speech: list[NDArray[np.int16]] | None = None
        self._speech_start = 0.0

    @property
    def in_speech(self) -> bool:
        """True between a VoiceStart and its VoiceEnd."""
        return self._speech is not None

    def process(self, mulaw: bytes) -> list[VadEvent]:
        """Feed mu-law bytes of any length; return the events they completed."""
        events: list[VadEvent] = []
        frames, self._pending = g711.frames_160(mulaw, self._pending)
        for frame in frames:
            self._step(g711.decode_array(frame), events)
        return events

    def flush(self) -> list[VadEvent]:
        """End an utterance in progress (stream closing)."""
        events: list[VadEvent] = []
        if self._speech is not None:
            self._finish(events)
        return events

    def _step(self, samples: NDArray[np.int16], events: list[VadEvent]) -> None:
        voiced = float(np.sqrt(np.mean(samples.astype(np.float32) ** 2))) > self.threshold
        self._frames_seen += 1
        if self._speech is None:
            self._preroll.append(samples)
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= self.start_frames:
                self._speech = list(self._preroll)
                self._preroll.clear()
                self._silent_run = 0
                self._speech_start = (self._frames_seen - self.start_frames) * _FRAME_SECONDS
                events.append(VoiceStart(at=self._speech_start))
            return
        self._speech.append(samples)
        self._silent_run = 0 if voiced else self._silent_run + 1
        if self._silent_run >= self._end_frames or len(self._speech) >= self._max_frames:
            self._finish(events)

    def _finish(self, events: list[VadEvent]) -> None:
        assert self._speech is not None
        audio = np.concatenate(self._speech) if self._speech else np.zeros(0, dtype=np.int16)
        end = (self._frames_seen - self._silent_run) * _FRAME_SECONDS
        events.append(VoiceEnd(start=self._speech_start, end=end, audio=audio))
        self._speech = None
        self._voiced_run = 0
        self._silent_run = 0
