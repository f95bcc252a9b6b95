"""Carrier pacing per number: segments ÷ MPS, never more than MPS segments in any one second."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from messaging.pacing import MICROS, interval_us, mps_for, next_slot

RATES = {"long_code": 1.0, "toll_free": 3.0, "short_code": 100.0}


def test_mps_comes_from_the_number_type() -> None:
    assert [mps_for(t, RATES) for t in ("local", "mobile", "toll_free", "short_code")] == [1.0, 1.0, 3.0, 100.0]


def test_an_idle_number_sends_at_once_and_a_busy_one_waits_its_turn() -> None:
    first = next_slot(None, 10 * MICROS, 1, 1.0)
    assert (first.send_at_us, first.next_tat_us) == (10 * MICROS, 11 * MICROS)
    second = next_slot(first.next_tat_us, 10 * MICROS, 3, 1.0)
    assert (second.send_at_us, second.next_tat_us) == (11 * MICROS, 14 * MICROS)


def test_a_tat_in_the_past_is_not_credit() -> None:
    assert next_slot(5 * MICROS, 100 * MICROS, 1, 3.0).send_at_us == 100 * MICROS


def test_interval_rounds_up() -> None:
    assert interval_us(1, 3.0) == 333_334


@given(st.lists(st.tuples(st.integers(0, 3 * MICROS), st.integers(1, 4)), min_size=1, max_size=60),
       st.sampled_from([1.0, 3.0, 100.0]))
def test_no_one_second_window_holds_more_than_mps_segments(arrivals: list[tuple[int, int]], mps: float) -> None:
    """Every window [t, t+1 s) starting at a send holds at most MPS segments, rounded up by the last one's size."""
    tat, now, sends = None, 0, []
    for gap, segments in arrivals:
        now += gap
        slot = next_slot(tat, now, segments, mps)
        tat = slot.next_tat_us
        sends.append((slot.send_at_us, segments))
    for start, _ in sends:
        inside = [s for at, s in sends if start <= at < start + MICROS]
        assert sum(inside[:-1]) < mps
