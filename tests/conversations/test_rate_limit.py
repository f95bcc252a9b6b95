"""Token buckets: a burst is allowed, then the sustained rate, per key, with bounded memory."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conversations.rate_limit import RateLimiter


def test_burst_then_refuse_then_refill() -> None:
    limiter = RateLimiter(per_minute=60, burst=3)
    assert [limiter.allow("ip", 0.0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("ip", 0.5) is False
    assert limiter.allow("ip", 1.0) is True


def test_keys_are_independent() -> None:
    limiter = RateLimiter(per_minute=1, burst=1)
    assert limiter.allow("a", 0.0) and limiter.allow("b", 0.0)
    assert not limiter.allow("a", 0.0)


def test_memory_is_bounded_by_forgetting_the_least_recent_key() -> None:
    limiter = RateLimiter(per_minute=1, burst=1, max_keys=2)
    for key in ("a", "b", "c"):
        limiter.allow(key, 0.0)
    assert len(limiter) == 2
    assert limiter.allow("a", 0.0)  # forgotten, so a fresh burst


@given(st.lists(st.floats(min_value=0, max_value=600, allow_nan=False), max_size=200),
       st.integers(min_value=1, max_value=10), st.floats(min_value=1, max_value=120))
def test_never_more_than_burst_plus_rate_times_elapsed(times: list[float], burst: int, per_minute: float) -> None:
    limiter = RateLimiter(per_minute=per_minute, burst=burst)
    ordered = sorted(times)
    allowed = sum(limiter.allow("k", t) for t in ordered)
    span = ordered[-1] - ordered[0] if ordered else 0.0
    assert allowed <= burst + span * per_minute / 60 + 1e-9
