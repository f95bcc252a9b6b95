"""A call's timers: each kind armed at most once, firing as an event on the session's queue.

Timers never run code themselves: a fired timer is a :class:`TimerFired` handled by the
session's one task like every other event, so no timer races the call's state.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from media.pipeline.frames import SessionEvent, TimerFired, TimerKind


class Timers:
    """The armed timers of one call.

    Args:
        loop: the call's event loop.
        post: puts an event on the session's queue.
    """

    __slots__ = ("_loop", "_post", "_armed", "_deadlines")

    def __init__(self, loop: asyncio.AbstractEventLoop, post: Callable[[SessionEvent], None]) -> None:
        self._loop = loop
        self._post = post
        self._armed: dict[TimerKind, asyncio.TimerHandle] = {}
        self._deadlines: list[asyncio.TimerHandle] = []

    def set(self, kind: TimerKind, delay: float, reply_id: int = 0) -> None:
        """(Re)arm ``kind``: a previous timer of that kind is cancelled."""
        self.cancel(kind)
        self._armed[kind] = self._loop.call_later(delay, self._post, TimerFired(kind, reply_id))

    def cancel(self, kind: TimerKind) -> None:
        """Disarm ``kind`` (no-op when not armed)."""
        handle = self._armed.pop(kind, None)
        if handle is not None:
            handle.cancel()

    def fired(self, kind: TimerKind) -> None:
        """Forget ``kind``: its event is being handled."""
        self._armed.pop(kind, None)

    def pending(self, kind: TimerKind) -> bool:
        """``kind`` is armed and has not been handled yet."""
        return kind in self._armed

    def post_later(self, delay: float, event: SessionEvent) -> None:
        """Post ``event`` after ``delay`` unless the call is torn down first (the maximum duration)."""
        self._deadlines.append(self._loop.call_later(delay, self._post, event))

    def cancel_all(self) -> None:
        """Disarm everything (teardown)."""
        for handle in [*self._armed.values(), *self._deadlines]:
            handle.cancel()
        self._armed.clear()
        self._deadlines.clear()
