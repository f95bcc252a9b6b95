"""The arithmetic behind the bench's reported figures: peak concurrency, the plateau, CPU quotas."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

from tests.fake_openai import stream_tokens

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import calls as bench_calls  # noqa: E402  (bench/calls.py)
import cpu_quota  # noqa: E402  (bench/cpu_quota.py)
import fakes  # noqa: E402  (bench/fakes.py)
import plateau  # noqa: E402  (bench/plateau.py)


def _samples(seconds: int) -> list[plateau.Sample]:
    """One sample a second: the server uses half a core, the load side 0.8 (0.3 the generator), its cores are 60% busy."""
    return [plateau.Sample(float(t), t * 0.5, t * 0.8, (t * 60.0, t * 100.0), t * 0.3) for t in range(seconds + 1)]


def test_peak_overlap_counts_an_end_before_a_start_at_the_same_instant() -> None:
    """A call that ends as another starts was never live with it: back-to-back calls are not concurrency."""
    assert bench_calls.peak_overlap([(0.0, 5.0), (5.0, 9.0), (1.0, 6.0)]) == 2
    assert bench_calls.peak_overlap([]) == 0


def test_plateau_takes_only_the_seconds_when_every_call_was_live() -> None:
    """Nine calls live from 1.5 s to 8.5 s and a tenth from 2 s to 6.5 s: sampled each second, the plateau is 2–6 s."""
    spans = [(1.5, 8.5)] * 9 + [(2.0, 6.5)]
    steady = plateau.plateau(_samples(10), spans, peak=10)
    assert steady is not None
    assert steady.seconds == 4.0
    assert steady.mean_live == 10.0
    assert math.isclose(steady.server_pct, 50.0)
    assert math.isclose(steady.load_pct, 80.0)
    assert math.isclose(steady.load_cores_busy_pct, 60.0)
    assert math.isclose(steady.generator_pct, 30.0)


def test_plateau_is_absent_when_the_peak_never_holds_for_a_whole_interval() -> None:
    """Calls that only brush past each other leave no steady state to report."""
    spans = [(0.5, 2.5), (2.2, 4.5)]
    assert plateau.plateau(_samples(5), spans, peak=2) is None
    assert plateau.plateau(_samples(5), [], peak=0) is None


def test_cpu_quota_is_a_share_of_each_period_with_the_kernels_floor() -> None:
    """0.3 of a core is 3 ms of every 10 ms; a sliver is raised to the kernel's 1 ms minimum."""
    assert cpu_quota.quota_us(0.3) == 3000
    assert cpu_quota.quota_us(2.0) == 20_000
    assert cpu_quota.quota_us(0.01) == 1000
    with pytest.raises(ValueError):
        cpu_quota.quota_us(0)


def test_the_ideal_response_waits_for_the_first_sentences_last_token() -> None:
    """With tokens 20 ms apart, the ideal is endpointing + final + the last token of sentence one + TTS first byte."""
    provider = fakes.PROFILES["provider"]
    tokens = len(stream_tokens(fakes.REPLY.split(". ")[0] + "."))
    assert tokens == 9
    assert math.isclose(provider.first_sentence, 0.30 + 8 * 0.02)
    assert math.isclose(provider.response, 0.300 + 0.0 + 0.46 + 0.20)
    assert math.isclose(provider.inside, 0.46 + 0.20)
    quick = fakes.PROFILES["quick"]
    assert math.isclose(quick.response, 0.300 + 0.05 + 0.10 + 0.05)
