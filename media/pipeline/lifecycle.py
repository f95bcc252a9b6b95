"""The one state machine every way a call can end converges on.

Caller hang-up, Twilio's ``stop``, the status callback, the ``end_call`` tool, a transfer,
running out of funds, timeouts and shutdown all become an :class:`EndReason` fed to
:class:`CallLifecycle`. Ending is idempotent: the first hard end wins and records the
reason, later ones are no-ops; a soft end (one with a goodbye) moves to ``ENDING`` so the
goodbye can be played before the call is finished, and a hard end during ``ENDING`` cuts
it short. Pure: the session acts on the transitions it returns.
"""

from __future__ import annotations

import enum


class CallState(enum.Enum):
    """Where a call is in its life."""

    CONNECTING = "connecting"
    ACTIVE = "active"
    ENDING = "ending"
    ENDED = "ended"


class EndReason(enum.StrEnum):
    """Why a call ended; stored in ``calls.end_reason``."""

    CALLER_HUNG_UP = "caller_hung_up"
    STREAM_STOPPED = "stream_stopped"
    STATUS_CALLBACK = "status_callback"
    AGENT_ENDED = "agent_ended"
    TRANSFERRED = "transferred"
    OUT_OF_FUNDS = "out_of_funds"
    TOKEN_LIMIT = "token_limit"
    MAX_DURATION = "max_duration"
    MEDIA_TIMEOUT = "media_timeout"
    HANGUP_REQUESTED = "hangup_requested"
    SHUTDOWN = "shutdown"
    STT_FAILED = "stt_failed"
    PROTOCOL_ERROR = "protocol_error"


class Transition(enum.Enum):
    """What the session must do after feeding an event to the lifecycle."""

    NONE = "none"
    """Already ending or ended: nothing to do."""
    SAY_GOODBYE = "say_goodbye"
    """Play the goodbye, then finish."""
    FINISH = "finish"
    """Tear the call down now."""


class CallLifecycle:
    """The call's state and, once ending, the reason that won."""

    __slots__ = ("state", "reason")

    def __init__(self) -> None:
        self.state = CallState.CONNECTING
        self.reason: EndReason | None = None

    def activate(self) -> bool:
        """The stream started; False when the call already ended (a late ``start``)."""
        if self.state is not CallState.CONNECTING:
            return False
        self.state = CallState.ACTIVE
        return True

    def request_end(self, reason: EndReason, *, graceful: bool) -> Transition:
        """Feed one end signal.

        Args:
            reason: why the call should end.
            graceful: the caller is still there and should hear a goodbye first.

        Returns:
            What the session must do now.
        """
        if self.state is CallState.ENDED:
            return Transition.NONE
        if self.state is CallState.ENDING:
            if graceful:
                return Transition.NONE
            self.state = CallState.ENDED
            return Transition.FINISH
        self.reason = reason
        if graceful and self.state is CallState.ACTIVE:
            self.state = CallState.ENDING
            return Transition.SAY_GOODBYE
        self.state = CallState.ENDED
        return Transition.FINISH

    def goodbye_played(self) -> Transition:
        """The goodbye's last mark was echoed (or its time ran out)."""
        if self.state is not CallState.ENDING:
            return Transition.NONE
        self.state = CallState.ENDED
        return Transition.FINISH

    @property
    def accepting_turns(self) -> bool:
        """The agent answers the caller only while the call is active."""
        return self.state is CallState.ACTIVE
