"""The light caller's one clock (``bench/light_caller.py``): every call's next frame, every 20 ms, from one timer."""

from __future__ import annotations

import asyncio
from typing import Final, Protocol

FRAME: Final = 0.02
PHASES: Final = 4
"""Slots per 20 ms frame, the calls' phases: bursts of a quarter of the calls, 200 wake-ups a second."""
SLOT: Final = FRAME / PHASES


class Ticking(Protocol):
    """A call the ticker serves: its next frame and its script's next step, at ``now``."""

    def tick(self, now: float) -> None: ...


class Ticker:
    """The one clock of every call on a loop: each call's frame every 20 ms, the calls spread over the period.

    Twilio's streams are independent, each at its own phase; sending every call's frame at
    the same instant would hand the server all of them in one burst each 20 ms. So a call
    joins one of ``PHASES`` slots (the next to come when it starts) and the ticker, one timer
    per slot for all calls, serves one slot per tick. A late tick serves the slots it missed,
    each once per 20 ms they were late (real-time pace). Slots of 1 ms were tried: at 200
    calls the generator's CPU rose from about 18% to 23-27% of a core for the 1,000
    wake-ups a second, and the server's latency did not measurably change on a shared machine.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.slots: list[list[Ticking]] = [[] for _ in range(PHASES)]
        self.count = 0
        self._t0 = 0.0
        self._served = 0
        self._handle: asyncio.TimerHandle | None = None

    def add(self, call: Ticking) -> None:
        if self._handle is None:
            self._t0, self._served = self.loop.time(), 0
            self._handle = self.loop.call_at(self._t0 + SLOT, self._tick)
        self.slots[(self._served + 1) % PHASES].append(call)
        self.count += 1

    def remove(self, call: Ticking) -> None:
        for slot in self.slots:
            if call in slot:
                slot.remove(call)
                self.count -= 1
        if not self.count and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _tick(self) -> None:
        now = self.loop.time()
        due = max(self._served + 1, int((now - self._t0) / SLOT))
        while self._served < due:
            self._served += 1
            for call in tuple(self.slots[self._served % PHASES]):
                call.tick(now)
        if self.count:
            self._handle = self.loop.call_at(self._t0 + (self._served + 1) * SLOT, self._tick)
        else:
            self._handle = None
