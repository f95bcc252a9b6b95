"""A call's provider faults: each one counted, logged and kept with the call (stage, kind, time, detail).

The stages report a fault once, where they answer it (the TTS stage falls back, the LLM
stage apologises, the session says it cannot hear), so the count, the log line and the
call's record never disagree. Nothing here touches the audio path's timing: the metric is
a counter increment and the record is queued for the call's background writer.
"""

from __future__ import annotations

import datetime

import structlog

from media.call_records import CallRecorder, FaultRecord, LlmAttemptRecord
from media.pipeline.telemetry import CallMetrics

log = structlog.get_logger(__name__)


class CallFaults:
    """The faults of one call.

    Args:
        metrics: counts each fault as a provider error of its stage.
        recorder: keeps each fault with the call (None in unit tests without a database).
    """

    __slots__ = ("seen", "_metrics", "_recorder")

    def __init__(self, metrics: CallMetrics, recorder: CallRecorder | None) -> None:
        self.seen: list[FaultRecord] = []
        """Every fault so far, in order."""
        self._metrics = metrics
        self._recorder = recorder

    def report(self, stage: str, kind: str, detail: str) -> None:
        """A provider of ``stage`` failed in the way ``kind`` names."""
        fault = FaultRecord(stage, kind, datetime.datetime.now(datetime.UTC), detail[:500])
        self.seen.append(fault)
        log.warning("provider_fault", stage=stage, kind=kind, detail=fault.detail)
        self._metrics.provider_error(stage, kind)
        if self._recorder is not None:
            self._recorder.fault(fault)

    def llm_attempt(self, record: LlmAttemptRecord) -> None:
        """An answer's request to the model, failed or not, kept with the call's usage (not a fault by itself)."""
        if self._recorder is not None:
            self._recorder.llm_attempt(record)
