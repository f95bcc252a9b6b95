"""A bench step's plateau: the seconds during which (nearly) every call was live, and the CPU spent there."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Plateau:
    """CPU while (nearly) every call of a step was live: the steady state, with no call starting or ending.

    The step's average CPU mixes the ramp up and down with the peak; this is what the
    server's core and the load side's cores actually carried at the peak.
    """

    seconds: float
    mean_live: float
    server_pct: float
    load_pct: float
    load_cores_busy_pct: float
    generator_pct: float = math.nan
    """The load generator's own share of ``load_pct`` (the rest is the fakes')."""

    def line(self) -> str:
        return (f"plateau ({self.seconds:.0f} s with {self.mean_live:.0f} live on average): server "
                f"{self.server_pct:.0f}% of a core ({self.server_pct / max(self.mean_live, 1):.2f}% per live call), "
                f"load generator + fakes {self.load_pct:.0f}% (generator {self.generator_pct:.0f}%), the load side's "
                f"cores {self.load_cores_busy_pct:.0f}% busy")


@dataclass(frozen=True)
class Sample:
    """Cumulative CPU seconds of the server and of the load side at one wall-clock instant."""

    at: float
    server_cpu: float
    load_cpu: float
    load_cores: tuple[float, float]
    """Busy and total jiffies of the load side's CPUs: its processes and the kernel's work there."""
    generator_cpu: float = 0.0
    """The load generator's part of ``load_cpu``."""


def plateau(samples: Sequence[Sample], spans: Sequence[tuple[float, float]], peak: int,
            share: float = 0.95) -> Plateau | None:
    """CPU over the sample intervals during which at least ``share`` of the peak was live throughout."""
    if peak <= 0:
        return None
    seconds = server = load = generator = live_time = busy = jiffies = 0.0
    for first, second in zip(samples, samples[1:]):
        live = [_live_at(spans, t) for t in (first.at, second.at)]
        if min(live) < share * peak:
            continue
        dt = second.at - first.at
        seconds += dt
        server += second.server_cpu - first.server_cpu
        load += second.load_cpu - first.load_cpu
        generator += second.generator_cpu - first.generator_cpu
        busy += second.load_cores[0] - first.load_cores[0]
        jiffies += second.load_cores[1] - first.load_cores[1]
        live_time += (live[0] + live[1]) / 2 * dt
    if seconds <= 0:
        return None
    return Plateau(seconds, live_time / seconds, server / seconds * 100, load / seconds * 100,
                   busy / jiffies * 100 if jiffies else math.nan, generator / seconds * 100)


def _live_at(spans: Sequence[tuple[float, float]], at: float) -> int:
    return sum(1 for start, end in spans if start <= at < end)
