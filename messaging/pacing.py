"""Each sending number's carrier pace: a GCRA schedule in segments per second.

Carriers accept a sustained number of message segments per second per sender (a US long
code 1, toll-free 3, a short code 100); beyond it they queue or drop. The dispatcher keeps
one theoretical arrival time (TAT) per number: a message may go at `max(TAT, now)` and moves
the TAT on by its segments ÷ MPS. With no burst allowance, no one-second window ever holds
more than MPS segments' worth of sends. Times are integer microseconds, as in
`conversations.gcra`, so the SQL that advances the row and this reference agree exactly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

MICROS = 1_000_000


@dataclass(frozen=True, slots=True)
class Slot:
    """A message may be sent at `send_at_us`; the number's TAT becomes `next_tat_us`."""

    send_at_us: int
    next_tat_us: int


def interval_us(segments: int, mps: float) -> int:
    """Microseconds `segments` occupy at `mps`, rounded up so the pace is never exceeded."""
    if segments < 1 or mps <= 0:
        raise ValueError(f"need segments >= 1 and mps > 0, got {segments} and {mps}")
    return math.ceil(segments * MICROS / mps)


def next_slot(tat_us: int | None, now_us: int, segments: int, mps: float) -> Slot:
    """When a message of `segments` may go on a number whose TAT is `tat_us` (None: idle)."""
    start = now_us if tat_us is None else max(tat_us, now_us)
    return Slot(start, start + interval_us(segments, mps))


def mps_for(number_type: str, rates: Mapping[str, float]) -> float:
    """The configured MPS of a number type (`local`, `mobile`: long codes; `toll_free`; `short_code`)."""
    kind = "long_code" if number_type in ("local", "mobile") else number_type
    return rates.get(kind, rates["long_code"])
