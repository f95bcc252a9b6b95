"""The Deepgram fake's knobs and record: what tests set (options, scripted faults) and what the fake saw."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field

from aiohttp import web


@dataclass(slots=True)
class SpeakRequest:
    """One recorded ``/v1/speak`` call."""

    query: dict[str, str]
    text: str
    authorization: str
    at: float
    """``time.monotonic()`` when the request arrived (tests compare it with the LLM's token times)."""


@dataclass(frozen=True, slots=True)
class SpeakFault:
    """One scripted failure of a ``/v1/speak`` request.

    Attributes:
        kind: ``refuse`` (the connection is dropped before any answer, as a refused or reset
            connection looks to the client), ``status`` (an HTTP error) or ``cut`` (the body is
            cut at the TCP level mid-stream).
        status: the HTTP status of a ``status`` fault.
        cut_after_bytes: audio bytes sent before a ``cut``.
        text: only a request whose text contains this fails (None: the next request).
    """

    kind: str
    status: int = 503
    cut_after_bytes: int = 1600
    text: str | None = None


@dataclass
class FakeDeepgramOptions:
    """Behaviour knobs; wall-clock delays are in seconds."""

    api_key: str = "test-key"
    speech_threshold: float = 500.0
    interim_after: float = 0.2
    """Audio seconds of speech before one interim (is_final=false) result is sent."""
    interim_delay: float = 0.0
    final_delay: float = 0.0
    speak_first_byte_delay: float = 0.0
    speak_chunk_delay: float = 0.0
    speak_bytes_per_char: int = 400
    speak_chunk_bytes: int = 1600
    voices: tuple[str, ...] | None = None
    """When set, ``/v1/speak`` for any other model (voice) is a 400, as Deepgram refuses an unknown one."""


@dataclass
class FakeDeepgramState:
    """What the fake saw, plus the script and the failure switches tests flip."""

    options: FakeDeepgramOptions
    script: deque[str] = field(default_factory=deque)
    default_transcript: str = ""
    connections_opened: int = 0
    connections_closed: int = 0
    rejected_handshakes: int = 0
    listen_queries: list[dict[str, str]] = field(default_factory=list)
    audio_bytes: int = 0
    audio_messages: int = 0
    keepalives: int = 0
    close_streams: int = 0
    finalizes: int = 0
    drop_after_bytes: int | None = None
    """One-shot: abort the socket once a connection has received this many audio bytes."""
    reject_handshakes: int = 0
    """The next N ``/v1/listen`` handshakes get HTTP 503."""
    speak_requests: list[SpeakRequest] = field(default_factory=list)
    speak_failures: deque[int] = field(default_factory=deque)
    """Statuses returned (one per request) before ``/v1/speak`` succeeds again."""
    speak_faults: list[SpeakFault] = field(default_factory=list)
    """Failures applied, each once, to the first requests they match."""
    speak_fault_times: list[float] = field(default_factory=list)
    """``time.monotonic()`` as each scripted speak fault happened."""
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    _transports: dict[web.WebSocketResponse, asyncio.Transport] = field(default_factory=dict)

    def say(self, *texts: str) -> None:
        """Queue transcripts for the next utterances, in order."""
        self.script.extend(texts)

    def drop_connections(self) -> int:
        """Abort every open ``/v1/listen`` socket at the TCP level; returns how many."""
        transports = list(self._transports.values())
        for transport in transports:
            transport.abort()
        return len(transports)
