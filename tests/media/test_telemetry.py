"""Per-turn stage latencies from the session's timestamps, and provider error labels."""

from __future__ import annotations

import pytest

from media.pipeline.telemetry import NoMetrics, TurnTimings, error_kind


def test_a_full_turn_yields_every_stage_and_a_total_that_is_their_sum() -> None:
    stages = dict(TurnTimings(turn_end=10.0, llm_first_token=10.25, tts_first_byte=10.5, first_frame=10.75).stages())
    assert stages == {"stt_final_to_llm_first_token": 0.25, "llm_first_token_to_tts_first_byte": 0.25,
                      "tts_first_byte_to_first_frame": 0.25, "server_total": 0.75}


def test_an_answer_without_llm_text_reports_only_the_stages_it_went_through() -> None:
    """A spoken apology after an LLM error has TTS but no first token."""
    stages = dict(TurnTimings(turn_end=1.0, llm_first_token=None, tts_first_byte=1.5, first_frame=2.0).stages())
    assert stages == {"tts_first_byte_to_first_frame": 0.5, "server_total": 1.0}


@pytest.mark.parametrize(("status", "kind"), [(None, "connection"), (429, "http_4xx"), (503, "http_5xx")])
def test_error_kind_is_the_status_class_or_connection(status: int | None, kind: str) -> None:
    assert error_kind(status) == kind


def test_no_metrics_accepts_every_report() -> None:
    sink = NoMetrics()
    sink.turn(TurnTimings(0.0, None, None, 0.0))
    sink.barge_in(0.01)
    sink.provider_error("llm", "connection")
