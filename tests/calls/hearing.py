"""What the caller hears after a fault: calls that time each agent frame's arrival, and speech told from silence.

A frame counts as heard speech when its mu-law decoded RMS is over :data:`VOICED_RMS` (the
fakes' tones and espeak-ng's voice are far above it; mu-law silence decodes to near zero).
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np

from media.audio import g711
from media.caller_simulator import CallerSimulator, CallResult, Step
from tests.calls.conftest import AUTH_TOKEN, NUMBER
from tests.calls.test_call_metrics import scrape
from tests.conftest import PUBLIC_URL

VOICED_RMS: Final = 300.0


async def timed_call(line: Any, steps: list[Step], call_sid: str | None = None) -> CallResult:
    """A call whose result keeps each agent frame's arrival time; returns once the server tore it down."""
    simulator = CallerSimulator(line.server_url, AUTH_TOKEN, line.http, public_url=PUBLIC_URL, quiet_timeout=10.0,
                                record_arrivals=True)
    result = await simulator.call(NUMBER, steps, call_sid=call_sid)
    await line.settled()
    return result


def voiced(frame: bytes) -> bool:
    """The frame is audible speech, not silence."""
    samples = g711.decode_array(frame).astype(np.float64)
    return float(np.sqrt(np.mean(samples**2))) > VOICED_RMS


def heard_after(result: CallResult, at: float) -> tuple[float | None, float]:
    """Seconds from ``at`` (``time.monotonic()``) to the first voiced frame that arrived after it, and
    seconds of voiced audio that arrived after it."""
    assert result.arrivals is not None
    after = [t for t, f in result.arrivals if t >= at and voiced(f)]
    first = after[0] - at if after else None
    return first, len(after) * g711.FRAME_BYTES / g711.SAMPLE_RATE


async def shown_faults(line: Any, call_sid: str) -> list[tuple[str, str]]:
    """``(stage, kind)`` of each fault ``GET /api/calls/{id}`` shows for the call, checking each has a time."""
    call_id = (await line.call_row(call_sid))["id"]
    resp = await line.client.get(f"/api/calls/{call_id}", headers=line.tenant.headers)
    assert resp.status == 200
    faults = (await resp.json())["faults"]
    assert all(f["at"] and isinstance(f["detail"], str) for f in faults), faults
    return [(f["stage"], f["kind"]) for f in faults]


async def provider_errors(line: Any, provider: str, kind: str) -> float:
    """``agent_provider_errors_total`` for one provider and kind, from the server's /metrics."""
    samples = await scrape(line)
    return samples.get(("agent_provider_errors_total", (("kind", kind), ("provider", provider))), 0.0)
