"""The generic cell rate algorithm (GCRA): one number per key decides whether a message may pass.

A key's state is its theoretical arrival time (TAT): when it would next be owed a message if
every admitted message had arrived exactly one emission interval after the previous one. A
message at `now` passes when the TAT, not let fall behind `now`, is at most `burst - 1`
intervals ahead; passing moves the TAT one interval on, refusing leaves it where it was.
That bounds any window of length w to `burst + w / interval` admissions, with one integer of
state instead of a bucket's level and timestamp, which is what lets one SQL upsert do the
whole check (`conversations.rate_limits` repeats this arithmetic in SQL; this is the
reference it is tested against). Times are integer microseconds so the two agree exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MICROS_PER_MINUTE = 60_000_000


@dataclass(frozen=True, slots=True)
class Limit:
    """`per_minute` sustained, `burst` at once (at least 1)."""

    per_minute: float
    burst: int

    def __post_init__(self) -> None:
        if self.per_minute <= 0 or self.burst < 1:
            raise ValueError(f"a limit needs per_minute > 0 and burst >= 1, got {self.per_minute}/{self.burst}")

    @property
    def interval_us(self) -> int:
        """Microseconds between messages at the sustained rate, rounded up so the rate is never exceeded."""
        return max(1, math.ceil(MICROS_PER_MINUTE / self.per_minute))

    @property
    def tolerance_us(self) -> int:
        """How far ahead of now the TAT may be for a message to pass: `burst - 1` intervals."""
        return self.interval_us * (self.burst - 1)


def admit(tat_us: int | None, now_us: int, limit: Limit) -> tuple[bool, int | None]:
    """Whether one message at `now_us` passes, and the key's TAT afterwards.

    Args:
        tat_us: the key's stored TAT, or None for a key never seen (or forgotten).
        now_us: the current time.
        limit: the key's rate and burst.

    Returns:
        `(True, new_tat)` when the message passes, `(False, tat_us)` when it is refused.
    """
    start = now_us if tat_us is None else max(tat_us, now_us)
    if start - now_us > limit.tolerance_us:
        return False, tat_us
    return True, start + limit.interval_us


def forgettable(tat_us: int, now_us: int) -> bool:
    """A TAT not ahead of now behaves exactly like no state at all, so its row can be deleted."""
    return tat_us <= now_us
