"""GCRA: a burst passes, then the sustained rate; no window ever admits more than burst + rate * length."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conversations.gcra import Limit, admit, forgettable

SECOND = 1_000_000


def run(limit: Limit, times: list[int]) -> list[bool]:
    """Admit a message at each time in order; which passed."""
    tat: int | None = None
    passed = []
    for now in times:
        ok, tat = admit(tat, now, limit)
        passed.append(ok)
    return passed


def test_burst_then_refuse_then_one_per_interval() -> None:
    limit = Limit(per_minute=60, burst=3)
    assert run(limit, [0, 0, 0, 0]) == [True, True, True, False]
    assert run(limit, [0, 0, 0, SECOND // 2, SECOND, SECOND]) == [True, True, True, False, True, False]


def test_a_refused_message_leaves_the_state_unchanged() -> None:
    limit = Limit(per_minute=60, burst=1)
    ok, tat = admit(None, 0, limit)
    assert ok and tat == SECOND
    assert admit(tat, 10, limit) == (False, SECOND)


def test_the_interval_rounds_up_so_the_rate_is_never_exceeded() -> None:
    assert Limit(per_minute=7, burst=1).interval_us == 8_571_429
    assert Limit(per_minute=60_000_000_000, burst=1).interval_us == 1


@pytest.mark.parametrize(("per_minute", "burst"), [(0, 1), (-1, 1), (1, 0)])
def test_a_limit_needs_a_positive_rate_and_burst(per_minute: float, burst: int) -> None:
    with pytest.raises(ValueError, match="per_minute > 0 and burst >= 1"):
        Limit(per_minute, burst)


def test_a_key_whose_tat_has_passed_is_the_same_as_a_new_key() -> None:
    limit = Limit(per_minute=30, burst=4)
    for tat, now in [(5 * SECOND, 5 * SECOND), (3 * SECOND, 9 * SECOND)]:
        assert forgettable(tat, now)
        assert admit(tat, now, limit) == admit(None, now, limit)
    assert not forgettable(5 * SECOND + 1, 5 * SECOND)


@given(st.lists(st.integers(min_value=0, max_value=600 * SECOND), max_size=300),
       st.integers(min_value=1, max_value=20), st.floats(min_value=0.5, max_value=600))
def test_no_window_admits_more_than_burst_plus_rate_times_its_length(times: list[int], burst: int,
                                                                     per_minute: float) -> None:
    limit = Limit(per_minute, burst)
    ordered = sorted(times)
    admitted = [t for t, ok in zip(ordered, run(limit, ordered), strict=True) if ok]
    # Every window [admitted[i], admitted[j]]: j - i + 1 admissions within a span of length t_j - t_i.
    for i, start in enumerate(admitted):
        for j in range(i, len(admitted)):
            assert (j - i + 1 - burst) * limit.interval_us <= admitted[j] - start


@given(st.integers(min_value=1, max_value=20), st.floats(min_value=0.5, max_value=600),
       st.integers(min_value=0, max_value=10))
def test_a_steady_sender_at_the_rate_is_never_refused(burst: int, per_minute: float, start: int) -> None:
    limit = Limit(per_minute, burst)
    assert all(run(limit, [start + k * limit.interval_us for k in range(50)]))
