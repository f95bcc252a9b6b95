"""Extension points of a live call for the areas built on it (metering, metrics) and the live-call registry.

Metering places a hold before a call is admitted, extends it while the call runs and
settles it when the call ends; an external "end this call" (out of funds, a dashboard
hang-up arriving over LISTEN/NOTIFY) reaches the call through :class:`LiveCalls`. Those
areas implement :class:`CallObserver` and register it with :meth:`CallHooks.add`; the
pipeline calls every observer at the three moments below and never depends on them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import structlog

from media.pipeline.lifecycle import EndReason

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CallInfo:
    """Who is calling whom, known from the voice webhook on."""

    call_id: uuid.UUID
    call_sid: str
    business_id: uuid.UUID
    agent_id: uuid.UUID
    from_number: str
    to_number: str


@dataclass(frozen=True, slots=True)
class CallOutcome:
    """How a call ended.

    Attributes:
        reason: the end signal that won.
        duration_seconds: wall time from the stream's ``start`` to the end (what per-second
            billing meters; Twilio's own ``CallDuration`` arrives later by status callback).
    """

    reason: EndReason
    duration_seconds: float


class CallControl(Protocol):
    """The handle a live call exposes to observers and to external control."""

    @property
    def info(self) -> CallInfo:
        """The call's identity."""
        ...

    def elapsed(self) -> float:
        """Seconds since the stream started."""
        ...

    def request_end(self, reason: EndReason, *, goodbye: str | None = None) -> None:
        """End the call: with ``goodbye``, the agent finishes its sentence, says it, then hangs up;
        without, the call is torn down at once. Safe to call any number of times, from any task."""
        ...

    def end_at_next_turn(self, reason: EndReason, *, goodbye: str) -> None:
        """Let what the agent is saying play out, and answer the caller's next turn with ``goodbye``
        instead of a model's answer, then hang up (a call out of tokens: what the model already
        wrote is heard, nothing more is asked of it). Safe from any task."""
        ...


class CallObserver(Protocol):
    """What an area built on calls implements; every method must return quickly."""

    async def admit(self, call: CallInfo) -> str | None:
        """In the voice webhook, before the stream is offered: None admits the call, a text
        refuses it (spoken to the caller, then the call is hung up; no stream, no pipeline)."""
        ...

    async def call_started(self, call: CallControl) -> None:
        """The media stream started (the agent is about to greet)."""
        ...

    async def call_ended(self, call: CallControl, outcome: CallOutcome) -> None:
        """The call is over: every task and provider socket of it is already closed."""
        ...


class CallHooks:
    """The observers registered in this process, called in registration order."""

    def __init__(self) -> None:
        self._observers: list[CallObserver] = []

    def add(self, observer: CallObserver) -> None:
        """Register an observer (at app setup, before the first call)."""
        self._observers.append(observer)

    async def admit(self, call: CallInfo) -> str | None:
        """The first refusal of any observer, or None."""
        for observer in self._observers:
            refusal = await observer.admit(call)
            if refusal is not None:
                return refusal
        return None

    async def call_started(self, call: CallControl) -> None:
        """Tell every observer; one failing does not stop the call or the others."""
        for observer in self._observers:
            try:
                await observer.call_started(call)
            except Exception:
                log.exception("call_hook_failed", hook="call_started", observer=type(observer).__name__)

    async def call_ended(self, call: CallControl, outcome: CallOutcome) -> None:
        """Tell every observer; one failing does not stop the others."""
        for observer in self._observers:
            try:
                await observer.call_ended(call, outcome)
            except Exception:
                log.exception("call_hook_failed", hook="call_ended", observer=type(observer).__name__)


class LiveCalls:
    """Calls whose media stream this process holds, by call id and by CallSid."""

    def __init__(self) -> None:
        self._by_id: dict[uuid.UUID, CallControl] = {}
        self._by_sid: dict[str, CallControl] = {}

    def add(self, call: CallControl) -> None:
        """Register a call whose stream just started."""
        self._by_id[call.info.call_id] = call
        self._by_sid[call.info.call_sid] = call

    def remove(self, call: CallControl) -> None:
        """Forget a call that ended (no-op when unknown)."""
        if self._by_id.get(call.info.call_id) is call:
            del self._by_id[call.info.call_id]
        if self._by_sid.get(call.info.call_sid) is call:
            del self._by_sid[call.info.call_sid]

    def by_id(self, call_id: uuid.UUID) -> CallControl | None:
        """The live call with this id, if this process holds it."""
        return self._by_id.get(call_id)

    def by_sid(self, call_sid: str) -> CallControl | None:
        """The live call with this Twilio CallSid, if this process holds it."""
        return self._by_sid.get(call_sid)

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[CallControl]:
        return iter(list(self._by_id.values()))
