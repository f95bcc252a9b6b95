"""A call's provider faults: each one counted, logged and kept with the call (stage, kind, time, detail).

The stages report a fault once, where they answer it (the TTS stage falls back, the LLM
stage apologises, the session says it cannot hear), so the count, the log line and the
call's record never disagree. Nothing here touches the audio path's timing: the metric is
a counter increment and the record is queued for the call's background writer.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import structlog

from media.pipeline.telemetry import CallMetrics

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Fault:
    """One provider fault as the call's record keeps it.

    Attributes:
        stage: ``stt``, ``llm`` or ``tts``.
        kind: what happened: an HTTP status class (``http_5xx``), ``connection``, ``timeout``, ``stalled``, ...
        at: when the call noticed it.
        detail: the provider's message, for whoever reads the call's record.
    """

    stage: str
    kind: str
    at: datetime.datetime
    detail: str


class CallFaults:
    """The faults of one call.

    Args:
        metrics: counts each fault as a provider error of its stage.
    """

    __slots__ = ("seen", "_metrics")

    def __init__(self, metrics: CallMetrics) -> None:
        self.seen: list[Fault] = []
        """Every fault so far, in order."""
        self._metrics = metrics

    def report(self, stage: str, kind: str, detail: str) -> None:
        """A provider of ``stage`` failed in the way ``kind`` names."""
        fault = Fault(stage, kind, datetime.datetime.now(datetime.UTC), detail[:500])
        self.seen.append(fault)
        log.warning("provider_fault", stage=stage, kind=kind, detail=fault.detail)
        self._metrics.provider_error(stage, kind)
