"""/metrics after real calls: per-stage latency histograms, barge-ins and provider errors fed by the pipeline."""

from __future__ import annotations

from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from media.caller_simulator import Say
from tests.calls.conftest import speech
from tests.fake_openai import ScriptedReply

LONG_REPLY = ("Our opening hours are nine to five on weekdays, ten to two on Saturdays, "
              "and we are closed on Sundays and public holidays, except in December.")


async def scrape(line: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics by name and labels."""
    resp = await line.client.get("/metrics")
    assert resp.status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(await resp.text()) for s in family.samples}


def stage_count(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], stage: str) -> float:
    return samples.get(("agent_call_stage_latency_seconds_count", (("stage", stage),)), 0.0)


async def test_a_call_with_a_barge_in_feeds_stage_latencies_and_the_barge_in_count(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("When are you open?", "Wait, stop please.")
    line.openai.state.script(LONG_REPLY, "Sure, I stopped.")
    result = await line.call([Say(speech()), Say(speech(0.6), barge_in_after=0.5)])
    await line.settled()
    assert result.clears == 1
    samples = await scrape(line)
    for stage in ("stt_final_to_llm_first_token", "llm_first_token_to_tts_first_byte",
                  "tts_first_byte_to_first_frame", "server_total"):
        assert stage_count(samples, stage) == 2, stage
    assert stage_count(samples, "barge_in") == 1
    assert samples[("agent_barge_ins_total", ())] == 1


async def test_an_llm_error_and_a_dropped_stt_socket_count_as_provider_errors(line_factory: Any) -> None:
    line = await line_factory()
    line.deepgram.state.say("What are your opening hours?", "And on Saturday?")
    line.openai.state.script(ScriptedReply(status=500), ScriptedReply(status=500), "Ten to two.")
    line.deepgram.state.drop_after_bytes = 8000 * 2
    await line.call([Say(speech()), Say(speech())])
    await line.settled()
    samples = await scrape(line)
    assert samples[("agent_provider_errors_total", (("kind", "http_5xx"), ("provider", "llm")))] == 1
    assert samples[("agent_provider_errors_total", (("kind", "dropped"), ("provider", "stt")))] == 1
    # The spoken apology went through TTS without an LLM token: its total is recorded, not that stage.
    assert stage_count(samples, "server_total") == 2
    assert stage_count(samples, "stt_final_to_llm_first_token") == 1
