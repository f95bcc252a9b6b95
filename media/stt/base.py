"""The speech-to-text interface: one session per call, mu-law in, typed events out.

Audio goes in with a non-blocking :meth:`SttSession.send_audio` so the Twilio reader never
waits on the STT connection; sessions buffer a bounded amount (and drop the oldest audio
past it) while a connection is re-established. Errors travel as :class:`SttError` events,
not exceptions, so the consumer's ``async for`` sees them in order with the transcripts.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    """Voice onset (use it for barge-in); ``timestamp`` is seconds of audio since the session began."""

    timestamp: float


@dataclass(frozen=True, slots=True)
class Transcript:
    """Recognised text for an audio range.

    Attributes:
        text: the words (may be empty on a final result over silence).
        is_final: this range will not be revised; concatenate finals.
        speech_final: an endpoint (pause) follows: the caller's turn may be over.
        start: seconds of audio time since the session began.
        duration: seconds of audio this result covers.
    """

    text: str
    is_final: bool
    speech_final: bool
    start: float
    duration: float


@dataclass(frozen=True, slots=True)
class UtteranceEnd:
    """Word-timing based end of an utterance; the backup turn signal when noise hides the pause."""

    last_word_end: float


@dataclass(frozen=True, slots=True)
class SttError:
    """A provider problem. ``recoverable`` means the session carries on (e.g. it reconnected)."""

    message: str
    recoverable: bool


SttEvent: TypeAlias = SpeechStarted | Transcript | UtteranceEnd | SttError


class SttUnavailable(Exception):
    """The provider could not open a session at all (bad key, service down)."""


class SttSession(abc.ABC):
    """One call's recognition stream. Iterate it once; iteration ends after :meth:`close`."""

    @abc.abstractmethod
    def send_audio(self, mulaw: bytes) -> None:
        """Queue 8 kHz mu-law audio (any length, typically one 160-byte frame); never blocks."""

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[SttEvent]:
        """Yield events until the session is closed or fails for good."""

    @abc.abstractmethod
    async def close(self) -> None:
        """Flush pending audio, deliver the last results, release the connection; idempotent."""


class SttProvider(abc.ABC):
    """Factory for sessions; one instance per process, shared by all calls."""

    name: str

    @abc.abstractmethod
    async def open_session(self, language: str, *, phrases: Sequence[str] = ()) -> SttSession:
        """Start a session.

        Args:
            language: BCP-47 tag such as ``"en-US"``.
            phrases: phrases the caller is likely to say (e.g. the agent's FAQ questions);
                providers may use them to bias recognition or ignore them.

        Raises:
            SttUnavailable: the session could not be started.
        """

    async def aclose(self) -> None:
        """Release process-wide resources (default: nothing to release)."""
        return None


async def events_until_closed(events: asyncio.Queue[SttEvent | None]) -> AsyncIterator[SttEvent]:
    """A session's events until the None that closes it (left in place for any later reader)."""
    while True:
        item = await events.get()
        if item is None:
            events.put_nowait(None)
            return
        yield item
