"""What a call reports about itself once per turn: stage latencies, barge-in reaction, provider errors.

The session already takes a timestamp at each turn's milestones (caller's turn ended, first
LLM token, first TTS byte, first frame sent); it hands them here once, when the turn's first
frame goes out, so recording never happens per frame. The pipeline sees only the
:class:`CallMetrics` protocol; the server implements it with Prometheus
(:mod:`agent_server.metrics`), keeping ``media/`` free of any metrics library.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Protocol

STT_FINAL_TO_LLM_FIRST_TOKEN: Final = "stt_final_to_llm_first_token"
LLM_FIRST_TOKEN_TO_TTS_FIRST_BYTE: Final = "llm_first_token_to_tts_first_byte"
TTS_FIRST_BYTE_TO_FIRST_FRAME: Final = "tts_first_byte_to_first_frame"
SERVER_TOTAL: Final = "server_total"


@dataclass(frozen=True, slots=True)
class TurnTimings:
    """Event-loop times (seconds) of one answer's milestones; None where a stage did not happen.

    Attributes:
        turn_end: the caller's turn ended (STT final / utterance end / keypad timeout).
        llm_first_token: the LLM's first text arrived.
        tts_first_byte: the first audio of the first sentence arrived from TTS.
        first_frame: the answer's first media frame was handed to the Twilio socket.
    """

    turn_end: float
    llm_first_token: float | None
    tts_first_byte: float | None
    first_frame: float

    def stages(self) -> Iterator[tuple[str, float]]:
        """Each measured stage with its duration in seconds; the total always."""
        if self.llm_first_token is not None:
            yield STT_FINAL_TO_LLM_FIRST_TOKEN, self.llm_first_token - self.turn_end
            if self.tts_first_byte is not None:
                yield LLM_FIRST_TOKEN_TO_TTS_FIRST_BYTE, self.tts_first_byte - self.llm_first_token
        if self.tts_first_byte is not None:
            yield TTS_FIRST_BYTE_TO_FIRST_FRAME, self.first_frame - self.tts_first_byte
        yield SERVER_TOTAL, self.first_frame - self.turn_end


def error_kind(status: int | None) -> str:
    """A provider error's label: its HTTP status class, or ``connection`` when none came back."""
    if status is None:
        return "connection"
    return f"http_{status // 100}xx"


class CallMetrics(Protocol):
    """Where a call reports; every method is called at most a few times per turn, never per frame."""

    def turn(self, timings: TurnTimings) -> None:
        """An answer's first frame went out."""
        ...

    def barge_in(self, reaction_seconds: float) -> None:
        """The caller interrupted; ``clear`` was sent this long after the speech-start event arrived."""
        ...

    def provider_error(self, provider: str, kind: str) -> None:
        """A provider (``stt``, ``llm``, ``tts``) failed; ``kind`` as :func:`error_kind` or a short word."""
        ...


class NoMetrics:
    """Reports nowhere: the default for sessions built without a metrics sink (unit tests, tools)."""

    def turn(self, timings: TurnTimings) -> None:
        return None

    def barge_in(self, reaction_seconds: float) -> None:
        return None

    def provider_error(self, provider: str, kind: str) -> None:
        return None
