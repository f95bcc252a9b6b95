"""When a ``bench/scale.py`` step passes, and what a ramp of repeated sizes adds up to.

Issue 17's rule for a steady step: every call completed with every turn answered, no
outbound gap, server-added latency p99 and barge-in p99 within their limits, every call
of the step live together for long enough (the plateau) that the step measured a steady
load rather than a ramp, and the load side (generator and fakes) within half a core there,
so that the step measured the server and not its own load. A size is tried several times (``--steps 150,200,200,200``) because
one step of 200 calls on a shared 2-CPU machine is a sample, not a verdict: the size holds
when at least two thirds of its steps passed (1 of 1, 2 of 2, 2 of 3, 3 of 4).

When the floor relay ran the same step (``--floor``) and itself misses an absolute limit,
that limit becomes a ratio to the floor's figure, as ``/work/shared/bench/README.md`` says:
p50 within the floor's + 2 ms, p99 within 1.75x the floor's, barge-in p99 within 1.5x. A
machine on which a bare relay cannot meet a target cannot show whether the server does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from plateau import Plateau  # bench/plateau.py (bench/ is on sys.path wherever this is)

P50_FLOOR_MARGIN_MS: Final = 2.0
P99_FLOOR_RATIO: Final = 1.75
BARGE_FLOOR_RATIO: Final = 1.5


class Figures(Protocol):
    """What a step measured (``scale.Step``), as far as the rule reads it."""

    @property
    def calls(self) -> int: ...
    @property
    def peak_live(self) -> int: ...
    @property
    def completed(self) -> int: ...
    @property
    def failed(self) -> int: ...
    @property
    def missed_turns(self) -> int: ...
    @property
    def gaps(self) -> int: ...
    @property
    def added_p50(self) -> float: ...
    @property
    def added_p99(self) -> float: ...
    @property
    def barge_p99(self) -> float: ...
    @property
    def plateau(self) -> Plateau | None: ...


@dataclass(frozen=True)
class Limits:
    """The latency limits a step is held to (ms); ``p50_ms`` is infinite unless a run asks for one."""

    p99_ms: float
    barge_p99_ms: float
    p50_ms: float = math.inf

    def against_floor(self, floor: Figures | None) -> Limits:
        """These limits, each one the floor itself misses turned into its ratio to the floor's figure."""
        if floor is None:
            return self
        return Limits(
            p99_ms=_relative(self.p99_ms, floor.added_p99, floor.added_p99 * P99_FLOOR_RATIO),
            barge_p99_ms=_relative(self.barge_p99_ms, floor.barge_p99, floor.barge_p99 * BARGE_FLOOR_RATIO),
            p50_ms=_relative(self.p50_ms, floor.added_p50, floor.added_p50 + P50_FLOOR_MARGIN_MS),
        )


def _relative(limit: float, floor_figure: float, ratio_limit: float) -> float:
    return ratio_limit if not math.isnan(floor_figure) and floor_figure > limit else limit


@dataclass(frozen=True)
class PassRule:
    """A step's pass rule: latency limits and the steady plateau it must hold (0 s: any step, as before)."""

    limits: Limits
    min_plateau_s: float = 15.0
    max_load_pct: float = 50.0
    """The load generator and fakes' CPU at the plateau, in % of a core: above it the load side, not the
    server, may be what the step measured (issue 17: 200 calls' load fits in half a core)."""

    def failures(self, step: Figures, floor: Figures | None = None) -> list[str]:
        """Why ``step`` failed (empty: it passed), judged against ``floor`` when the relay ran it too."""
        limits = self.limits.against_floor(floor)
        reasons = []
        if step.failed:
            reasons.append(f"{step.failed} calls failed")
        if step.missed_turns:
            reasons.append(f"{step.missed_turns} calls missed a turn")
        if step.gaps:
            reasons.append(f"{step.gaps} gaps")
        reasons += _over("server-added p50", step.added_p50, limits.p50_ms)
        reasons += _over("server-added p99", step.added_p99, limits.p99_ms)
        reasons += _over("barge-in p99", step.barge_p99, limits.barge_p99_ms)
        if self.min_plateau_s > 0:
            seconds = step.plateau.seconds if step.plateau else 0.0
            if seconds < self.min_plateau_s:
                reasons.append(f"plateau {seconds:.1f} s < {self.min_plateau_s:g} s")
            if step.peak_live < step.completed:
                reasons.append(f"only {step.peak_live} of {step.completed} calls live at once")
        if step.plateau is not None and step.plateau.load_pct > self.max_load_pct:
            reasons.append(f"load side {step.plateau.load_pct:.0f}% of a core > {self.max_load_pct:g}%")
        return reasons


def _over(name: str, value: float, limit: float) -> list[str]:
    if math.isinf(limit):
        return []
    if math.isnan(value):
        return [f"{name} not measured"]
    return [f"{name} {value:.1f} ms > {limit:.1f} ms"] if value > limit else []


def holds(passed: int, runs: int) -> bool:
    """Whether a size held: at least two thirds of its steps passed (and at least one ran)."""
    return runs > 0 and 3 * passed >= 2 * runs


def tally(outcomes: Sequence[tuple[int, bool]]) -> list[tuple[int, int, int]]:
    """(size, steps passed, steps run) per size, in the order sizes first ran."""
    counts: dict[int, list[int]] = {}
    for size, passed in outcomes:
        entry = counts.setdefault(size, [0, 0])
        entry[0] += passed
        entry[1] += 1
    return [(size, passed, runs) for size, (passed, runs) in counts.items()]


def summary(outcomes: Sequence[tuple[int, bool]]) -> list[str]:
    """One line per size: ``200: 2 of 3 passed (holds)``."""
    return [f"{size}: {passed} of {runs} passed ({'holds' if holds(passed, runs) else 'does not hold'})"
            for size, passed, runs in tally(outcomes)]


def largest_held(outcomes: Sequence[tuple[int, bool]]) -> int:
    """The largest size that held (0: none)."""
    return max((size for size, passed, runs in tally(outcomes) if holds(passed, runs)), default=0)


def after_failure(size: int, remaining: Sequence[int]) -> list[int]:
    """The steps still worth running once a step of ``size`` failed: only that size's repeats.

    The ramp looks for the largest size that holds. A failure ends the climb, as it always
    did, but a repeat may still make this size hold (2 of 3), so its repeats still run.
    """
    return [n for n in remaining if n == size]
