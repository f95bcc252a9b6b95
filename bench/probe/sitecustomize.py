"""A bench-only probe: where a call's latency tail comes from, measured inside each process.

Put this directory on ``PYTHONPATH`` and set ``LATENCY_PROBE`` to a file prefix; every
Python process of a bench run (the server, the fakes, the load generator) then writes
``<prefix>.<role>.<pid>`` when it exits (or on SIGUSR2) with what it measured since it
started, or since SIGUSR1 (a bench's measured phase begins):

- event-loop lag: how late a 5 ms timer fires (waiting for a CPU, GC pauses and long
  callbacks all show up here), p50/p90/p99/p99.9/max;
- garbage-collector pauses per generation;
- in the server: each answer's stage timings (STT final → first LLM token → first TTS byte
  → first frame out), the SpeechStarted → ``clear`` reaction, LLM request → response head,
  and how long new TCP connections took.

Usage::

    LATENCY_PROBE=/tmp/probe PYTHONPATH=bench/probe .venv/bin/python bench/scale.py --steps 125

It patches uvloop's loop factory and a few methods at start-up; it is never imported by
the server itself.
"""

from __future__ import annotations

import atexit
import collections
import gc
import os
import signal
import sys
import time
from collections.abc import Callable, Coroutine
from typing import Any

_PREFIX = os.environ.get("LATENCY_PROBE")
_BEAT = 0.005


def _role() -> str:
    if "serve" in sys.argv:
        return "server"
    if any("multiprocessing" in arg for arg in sys.argv):
        return "fakes"
    return "load"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


class _Probe:
    def __init__(self, prefix: str) -> None:
        self.role = _role()
        self.out = f"{prefix}.{self.role}.{os.getpid()}"
        self.lags: list[float] = []
        self.gc_pauses: dict[int, list[float]] = collections.defaultdict(list)
        self.stages: dict[str, list[float]] = collections.defaultdict(list)
        self._gc_started = 0.0
        self._last_beat: float | None = None
        self.skip = 200  # the first second is start-up

    def reset(self, *_: object) -> None:
        self.lags.clear()
        self.gc_pauses.clear()
        self.stages.clear()
        self.skip = 0

    def on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._gc_started = time.monotonic()
        else:
            self.gc_pauses[info["generation"]].append((time.monotonic() - self._gc_started) * 1000)

    def beat(self, loop: Any) -> None:
        now = time.monotonic()
        if self._last_beat is not None:
            self.lags.append((now - self._last_beat - _BEAT) * 1000)
        self._last_beat = now
        loop.call_later(_BEAT, self.beat, loop)

    def timed(self, name: str, method: Callable[..., Coroutine[Any, Any, Any]]) -> Callable[..., Any]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.monotonic()
            result = await method(*args, **kwargs)
            self.stages[name].append((time.monotonic() - started) * 1000)
            return result
        return wrapper

    def patch_server(self) -> None:
        from aiohttp import connector
        from agent_server import metrics
        from media.llm import openai_sse

        probe = self
        turn, barge_in = metrics.Metrics.turn, metrics.Metrics.barge_in

        def on_turn(self: Any, timings: Any) -> None:
            for stage, seconds in timings.stages():
                probe.stages[stage].append(seconds * 1000)
            turn(self, timings)

        def on_barge_in(self: Any, reaction_seconds: float) -> None:
            probe.stages["barge_in"].append(reaction_seconds * 1000)
            barge_in(self, reaction_seconds)

        metrics.Metrics.turn = on_turn  # type: ignore[method-assign]
        metrics.Metrics.barge_in = on_barge_in  # type: ignore[method-assign]
        openai_sse.OpenAiSseChat._open = self.timed(  # type: ignore[method-assign]
            "llm_request_to_response_head", openai_sse.OpenAiSseChat._open)
        connector.TCPConnector._create_connection = self.timed(  # type: ignore[method-assign]
            "new_tcp_connection", connector.TCPConnector._create_connection)

    def dump(self, *_: object) -> None:
        lags = self.lags[self.skip:]
        lines = [f"{self.role}: loop lag n={len(lags)} p50 {_pct(lags, .5):.2f} p90 {_pct(lags, .9):.2f} "
                 f"p99 {_pct(lags, .99):.2f} p99.9 {_pct(lags, .999):.2f} max {max(lags, default=0):.1f} ms"]
        for generation, pauses in sorted(self.gc_pauses.items()):
            lines.append(f"  gc generation {generation}: {len(pauses)} collections, max {max(pauses):.1f} ms")
        for stage, values in self.stages.items():
            lines.append(f"  {stage}: n={len(values)} p50 {_pct(values, .5):.1f} p90 {_pct(values, .9):.1f} "
                         f"p99 {_pct(values, .99):.1f} max {max(values):.1f} ms")
        with open(self.out, "w") as f:
            f.write("\n".join(lines) + "\n")


def _install(prefix: str) -> None:
    import uvloop

    probe = _Probe(prefix)
    gc.callbacks.append(probe.on_gc)
    new_event_loop, run = uvloop.new_event_loop, uvloop.run

    def probed_loop() -> Any:
        if probe.role == "server":
            probe.patch_server()
        loop = new_event_loop()
        loop.call_soon(probe.beat, loop)
        return loop

    def probed_run(main: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("loop_factory", probed_loop)
        return run(main, **kwargs)

    uvloop.new_event_loop = probed_loop
    uvloop.run = probed_run
    atexit.register(probe.dump)
    signal.signal(signal.SIGUSR2, probe.dump)
    signal.signal(signal.SIGUSR1, probe.reset)


if _PREFIX:
    _install(_PREFIX)
