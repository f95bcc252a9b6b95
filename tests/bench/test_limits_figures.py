"""The arithmetic behind bench/limits.py's figures: per-core throughput and latency percentiles."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import limits as bench_limits  # noqa: E402  (bench/limits.py)


def test_per_core_divides_checks_by_the_cpu_of_bench_and_database_together() -> None:
    figures = bench_limits.Figures(checks=12_000, admitted=10, wall_seconds=2.0, client_cpu_seconds=1.0,
                                   database_cpu_seconds=0.5, latencies=[0.001] * 10)
    assert figures.per_second == 6_000
    assert figures.per_core == 8_000


def test_percentiles_are_nearest_rank() -> None:
    figures = bench_limits.Figures(100, 0, 1.0, 1.0, 1.0, [i / 1000 for i in range(100, 0, -1)])
    assert figures.percentile(0.50) == 0.050
    assert figures.percentile(0.99) == 0.099
    assert figures.percentile(1.0) == 0.100


def test_the_database_cpu_of_this_process_tree_never_goes_backwards() -> None:
    """cutime/cstime keep the CPU of children that exited, so a reading can only grow."""
    first = bench_limits.database_cpu(os.getpid())
    sum(i * i for i in range(200_000))
    assert bench_limits.database_cpu(os.getpid()) >= first
