"""Token-bucket rate limiting keyed by client IP or conversation, with bounded memory.

Pure: callers pass the clock, so tests step time explicitly. Limits are per process; with
several processes each enforces its own share, which bounds abuse well enough for a chat
widget without a database round trip per message.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class TokenBucket:
    """`capacity` tokens, refilled at `rate` tokens per second."""

    capacity: float
    rate: float
    tokens: float
    updated: float

    def take(self, now: float, cost: float = 1.0) -> bool:
        """Spend `cost` tokens if there are enough at time `now`."""
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = now
        if self.tokens < cost:
            return False
        self.tokens -= cost
        return True


class RateLimiter:
    """One bucket per key; the least recently used keys are forgotten beyond `max_keys`.

    Forgetting a key only hands that client a fresh burst, so the bound costs little and
    keeps a flood of distinct IPs from growing memory without limit.
    """

    def __init__(self, *, per_minute: float, burst: int, max_keys: int = 10_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, key: str, now: float) -> bool:
        """Whether one more message from `key` is allowed at time `now` (seconds)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.burst, self.rate, self.burst, now)
            self._buckets[key] = bucket
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now)

    def __len__(self) -> int:
        return len(self._buckets)
