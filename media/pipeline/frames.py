"""The vocabulary of a call session: every event its control loop reacts to, as small dataclasses.

Caller audio is deliberately not here: it goes straight from the Twilio socket to the STT
session (the per-frame hot path); everything else — STT results, mark echoes, keys,
replies finishing, timers and end requests from any task — is posted to one queue and
handled by one task, so the call's state needs no locks. Errors travel as events too.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TypeAlias

from media.pipeline.lifecycle import EndReason
from media.stt.base import SttEvent


@dataclass(frozen=True, slots=True)
class MarkPlayed:
    """Twilio echoed a mark: playback reached it, or a ``clear`` discarded it."""

    name: str


@dataclass(frozen=True, slots=True)
class KeyPressed:
    """The caller pressed a key (DTMF)."""

    digit: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    """A reply finished generating: all its audio has been sent (or it failed)."""

    reply_id: int


class TimerKind(enum.Enum):
    """The session's timers."""

    FALSE_INTERRUPTION = "false_interruption"
    KEYPAD = "keypad"
    GOODBYE = "goodbye"
    MEDIA_WATCHDOG = "media_watchdog"


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer ran out; ``reply_id`` ties reply-scoped timers to the reply that set them."""

    kind: TimerKind
    reply_id: int = 0


@dataclass(frozen=True, slots=True)
class EndRequested:
    """End the call; with ``goodbye`` the agent says it first."""

    reason: EndReason
    goodbye: str | None = None


SessionEvent: TypeAlias = SttEvent | MarkPlayed | KeyPressed | ReplyDone | TimerFired | EndRequested
