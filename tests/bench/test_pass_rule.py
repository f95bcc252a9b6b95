"""The arithmetic of a scale step's verdict: limits, the floor's ratios, the plateau and repeated sizes."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import pass_rule  # noqa: E402  (bench/pass_rule.py)
from plateau import Plateau  # noqa: E402  (bench/plateau.py)


@dataclass(frozen=True)
class _Step:
    """A step's figures as ``scale.Step`` carries them: 200 calls that all passed issue 17's rule."""

    calls: int = 200
    peak_live: int = 200
    completed: int = 200
    failed: int = 0
    missed_turns: int = 0
    gaps: int = 0
    added_p50: float = 12.0
    added_p99: float = 28.0
    barge_p99: float = 14.0
    plateau: Plateau | None = Plateau(seconds=16.0, mean_live=200.0, server_pct=80.0, load_pct=40.0,
                                      load_cores_busy_pct=45.0)


RULE = pass_rule.PassRule(pass_rule.Limits(p99_ms=30.0, barge_p99_ms=15.0), min_plateau_s=15.0)


def test_a_step_within_every_limit_passes() -> None:
    assert RULE.failures(_Step()) == []


def test_barge_in_p99_over_its_limit_fails_the_step() -> None:
    assert RULE.failures(_Step(barge_p99=15.5)) == ["barge-in p99 15.5 ms > 15.0 ms"]


def test_a_limit_a_step_did_not_measure_fails_it() -> None:
    """No barge-in measured (every interruption missed) must not pass for a fast one."""
    assert RULE.failures(_Step(barge_p99=math.nan)) == ["barge-in p99 not measured"]


def test_a_plateau_shorter_than_asked_or_missing_fails_a_steady_step() -> None:
    short = Plateau(seconds=14.5, mean_live=200.0, server_pct=80.0, load_pct=40.0, load_cores_busy_pct=45.0)
    assert RULE.failures(_Step(plateau=short)) == ["plateau 14.5 s < 15 s"]
    assert RULE.failures(_Step(plateau=None)) == ["plateau 0.0 s < 15 s"]


def test_a_steady_step_needs_every_call_live_at_once() -> None:
    assert RULE.failures(_Step(peak_live=196)) == ["only 196 of 200 calls live at once"]


def test_without_a_minimum_plateau_short_calls_are_judged_on_latency_alone() -> None:
    short_calls = pass_rule.PassRule(RULE.limits, min_plateau_s=0)
    assert short_calls.failures(_Step(plateau=None, peak_live=120)) == []


def test_failed_calls_missed_turns_gaps_and_p99_are_each_named() -> None:
    step = _Step(failed=1, completed=199, missed_turns=2, gaps=3, added_p99=31.0)
    assert RULE.failures(step) == ["1 calls failed", "2 calls missed a turn", "3 gaps",
                                   "server-added p99 31.0 ms > 30.0 ms"]


def test_a_limit_the_floor_itself_misses_becomes_its_ratio_to_the_floor() -> None:
    """Floor p99 20 > 10 allows 1.75 x 20 = 35; floor barge 12 <= 15 keeps 15; floor p50 6 > 5 allows 8."""
    light = pass_rule.PassRule(pass_rule.Limits(p99_ms=10.0, barge_p99_ms=15.0, p50_ms=5.0), min_plateau_s=0)
    floor = _Step(added_p50=6.0, added_p99=20.0, barge_p99=12.0)
    limits = light.limits.against_floor(floor)
    assert (limits.p50_ms, limits.p99_ms, limits.barge_p99_ms) == (8.0, 35.0, 15.0)
    assert light.failures(_Step(added_p50=7.9, added_p99=34.0, barge_p99=14.0), floor) == []
    assert light.failures(_Step(added_p50=8.1, added_p99=36.0, barge_p99=14.0), floor) == [
        "server-added p50 8.1 ms > 8.0 ms", "server-added p99 36.0 ms > 35.0 ms"]


def test_barge_in_against_a_slow_floor_is_held_to_one_and_a_half_times_it() -> None:
    limits = RULE.limits.against_floor(_Step(barge_p99=20.0))
    assert limits.barge_p99_ms == 30.0
    assert limits.p50_ms == math.inf


def test_a_size_holds_when_two_thirds_of_its_steps_passed() -> None:
    assert [pass_rule.holds(p, r) for p, r in [(1, 1), (2, 2), (2, 3), (1, 2), (1, 3), (3, 4), (0, 0)]] == [
        True, True, True, False, False, True, False]


def test_the_summary_counts_passing_steps_per_size_in_order() -> None:
    outcomes = [(150, True), (200, True), (200, False), (200, True)]
    assert pass_rule.summary(outcomes) == ["150: 1 of 1 passed (holds)", "200: 2 of 3 passed (holds)"]
    assert pass_rule.largest_held(outcomes) == 200
    assert pass_rule.largest_held([(150, True), (200, False), (200, True), (200, False)]) == 150
    assert pass_rule.largest_held([]) == 0


def test_after_a_failure_only_that_sizes_repeats_still_run() -> None:
    assert pass_rule.after_failure(200, [200, 200, 250]) == [200, 200]
    assert pass_rule.after_failure(150, [200, 200, 200]) == []


def test_a_load_side_over_half_a_core_at_the_plateau_fails_the_step() -> None:
    """Then the step may have measured its own load generator, not the server."""
    busy = Plateau(seconds=16.0, mean_live=200.0, server_pct=80.0, load_pct=51.0, load_cores_busy_pct=60.0)
    assert RULE.failures(_Step(plateau=busy)) == ["load side 51% of a core > 50%"]
