"""What the simulated caller experienced: the call's outcome and the latencies measured at the ear."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class CallResult:
    """What the caller experienced."""

    call_sid: str
    twiml: str
    refused_with: str | None = None
    close_code: int | None = None
    hung_up_by_agent: bool = False
    heard: bytearray = field(default_factory=bytearray)
    replies: int = 0
    clears: int = 0
    marks_echoed: int = 0
    turn_latencies_ms: list[float] = field(default_factory=list)
    barge_in_latencies_ms: list[float] = field(default_factory=list)
    gaps_ms: list[float] = field(default_factory=list)
    lines_ended_at: list[float] = field(default_factory=list)
    """``time.monotonic()`` as each spoken line's last frame went out (where its turn's latency counts from)."""
    arrivals: list[tuple[float, bytes]] | None = None
    """Each agent frame with its ``time.monotonic()`` on arrival, when the simulator records them
    (tests that time what the caller hears after a fault); None otherwise, to keep benches light."""
