"""What the simulated caller does, step by step: speak, press keys, hang up."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias


@dataclass(frozen=True, slots=True)
class Say:
    """The caller speaks ``audio`` (8 kHz mu-law).

    Attributes:
        audio: what the caller says.
        barge_in_after: start this many seconds after the agent's next reply starts playing
            (an interruption); None waits until the agent is quiet.
    """

    audio: bytes
    barge_in_after: float | None = None


@dataclass(frozen=True, slots=True)
class Press:
    """The caller presses keys (one ``dtmf`` event each) once the agent is quiet."""

    digits: str


@dataclass(frozen=True, slots=True)
class HangUp:
    """The caller hangs up ``after_agent_audio`` seconds into the agent's next reply (None: when quiet)."""

    after_agent_audio: float | None = None


Step: TypeAlias = Say | Press | HangUp
