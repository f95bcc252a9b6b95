"""The provider check: real round trips to the OpenAI, Deepgram and Twilio fakes, each fault its own code."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server import agents
from agent_server.agent_config import channels_from_json
from phone_numbers import registry
from phone_numbers.provisioning import webhooks_for
from tests.conftest import PUBLIC_URL, MakeBusiness, MakeClient, MakeSettings, Tenant
from tests.fake_deepgram import FakeDeepgram
from tests.fake_openai import FakeOpenAi
from tests.fake_twilio import FakeTwilio

Client = TestClient[web.Request, web.Application]
NUMBER = "+14155550100"
MODELS = ("gpt-agent", "gpt-voice")
VOICES = ("aura-2-thalia-en", "aura-2-orion-en")
OPENAI_KEY, DEEPGRAM_KEY = "sk-openai-secret-key", "dg-secret-key"


@dataclasses.dataclass
class World:
    openai: FakeOpenAi
    deepgram: FakeDeepgram
    twilio: FakeTwilio
    tenant: Tenant
    agent_id: Any
    start: Any

    async def check(self, path: str | None = None, body: dict[str, Any] | None = None,
                    **env: str) -> tuple[int, dict[str, Any], float]:
        client: Client = await self.start(**env)
        started = time.perf_counter()
        resp = await client.post(path or f"/api/agents/{self.agent_id}/validate", json=body,
                                 headers=self.tenant.headers)
        elapsed = time.perf_counter() - started
        text = await resp.text()
        assert OPENAI_KEY not in text and DEEPGRAM_KEY not in text and self.twilio.auth_token not in text
        return resp.status, await resp.json(), elapsed


@pytest.fixture
async def world(make_settings: MakeSettings, make_client: MakeClient, make_business: MakeBusiness,
                pool: asyncpg.Pool) -> AsyncIterator[World]:
    """An agent whose voice channel has its own model and voice, on a number Twilio routes to us."""
    openai = FakeOpenAi(api_key=OPENAI_KEY, models=MODELS)
    deepgram = FakeDeepgram(api_key=DEEPGRAM_KEY, voices=VOICES)
    twilio = FakeTwilio()
    openai_url, deepgram_url, twilio_url = await openai.start(), await deepgram.start(), await twilio.start()
    tenant = await make_business()
    agent_id = await agents.create_agent(pool, tenant.business_id, "Desk", model="gpt-agent", voice="aura-2-thalia-en",
                                         language="en-US", channels=channels_from_json(
                                             {"voice": {"model": "gpt-voice", "voice": "aura-2-orion-en"}}))
    await registry.add_number(pool, tenant.business_id, NUMBER, agent_id=agent_id)
    hooks = webhooks_for(PUBLIC_URL)
    twilio.own(NUMBER, voice_url=hooks.voice_url, sms_url=hooks.sms_url)

    async def start(**env: str) -> Client:
        base = {"OPENAI_API_KEY": OPENAI_KEY, "OPENAI_BASE_URL": openai_url, "DEEPGRAM_API_KEY": DEEPGRAM_KEY,
                "DEEPGRAM_BASE_URL": deepgram_url, "TWILIO_ACCOUNT_SID": twilio.account_sid,
                "TWILIO_AUTH_TOKEN": twilio.auth_token, "TWILIO_API_BASE": twilio_url}
        return await make_client(make_settings(**{**base, **env}))

    yield World(openai, deepgram, twilio, tenant, agent_id, start)
    await openai.close()
    await deepgram.close()
    await twilio.close()


def outcome(report: dict[str, Any]) -> dict[tuple[str, str], str]:
    """(kind, target) → "ok" or the error's code."""
    return {(r["kind"], r["target"]): "ok" if r["ok"] else r["error"]["code"] for r in report["results"]}


ALL_OK = {("llm", "gpt-voice"): "ok", ("llm", "gpt-agent"): "ok", ("tts", "aura-2-orion-en"): "ok",
          ("stt", "en-US"): "ok", ("account", FakeTwilio.account_sid): "ok", ("webhooks", NUMBER): "ok"}


async def test_every_provider_the_agents_channels_use_answers_ok(world: World) -> None:
    status, report, _ = await world.check()
    assert status == 200 and report["ok"] is True
    assert outcome(report) == ALL_OK
    assert all(r["error"] is None and r["latencyMs"] >= 0 and r["local"] is False for r in report["results"])
    assert {r["model"] for r in world.openai.state.chat_requests} == set(MODELS)
    assert all(r["max_tokens"] == 1 and r["stream"] for r in world.openai.state.chat_requests)
    assert [r.text for r in world.deepgram.state.speak_requests] == ["Hello."]
    assert world.deepgram.state.close_streams == 1 and world.deepgram.state.audio_bytes == 8000


async def test_a_bad_openai_key_is_auth_failed_for_each_model_and_the_rest_ok(world: World) -> None:
    _, report, _ = await world.check(OPENAI_API_KEY="sk-wrong")
    assert report["ok"] is False
    assert outcome(report) == {**ALL_OK, ("llm", "gpt-voice"): "auth_failed", ("llm", "gpt-agent"): "auth_failed"}
    failed = next(r for r in report["results"] if r["kind"] == "llm")
    assert "Incorrect API key" in failed["error"]["message"] and len(failed["error"]["message"]) <= 200


async def test_an_unknown_model_is_model_not_found(world: World, pool: asyncpg.Pool) -> None:
    await pool.execute("""UPDATE agents SET channels = channels || '{"sms": {"model": "gpt-missing"}}' WHERE id = $1""",
                       world.agent_id)
    _, report, _ = await world.check()
    assert outcome(report) == {**ALL_OK, ("llm", "gpt-missing"): "model_not_found"}


async def test_an_unknown_voice_is_voice_not_found(world: World, pool: asyncpg.Pool) -> None:
    await pool.execute("""UPDATE agents SET channels = '{"voice": {"voice": "aura-nobody"}}' WHERE id = $1""",
                       world.agent_id)
    _, report, _ = await world.check()
    expected = {k: v for k, v in ALL_OK.items() if k not in {("tts", "aura-2-orion-en"), ("llm", "gpt-voice")}}
    assert outcome(report) == {**expected, ("tts", "aura-nobody"): "voice_not_found"}


async def test_deepgram_refusing_to_listen_is_unreachable(world: World) -> None:
    world.deepgram.state.reject_handshakes = 100
    _, report, _ = await world.check()
    assert outcome(report) == {**ALL_OK, ("stt", "en-US"): "unreachable"}


async def test_hanging_speech_times_out_at_5_s_while_the_rest_answer(world: World) -> None:
    world.deepgram.state.options.speak_first_byte_delay = 30.0
    _, report, elapsed = await world.check()
    assert outcome(report) == {**ALL_OK, ("tts", "aura-2-orion-en"): "timeout"}
    assert elapsed <= 5.5
    assert max(r["latencyMs"] for r in report["results"] if r["kind"] != "tts") < 5000


async def test_a_number_whose_webhook_points_elsewhere_is_webhook_mismatch(world: World) -> None:
    record = world.twilio.owned_number(NUMBER)
    assert record is not None
    record["voice_url"] = "https://old-tunnel.example.com/api/voice-agent/handle-call"
    _, report, _ = await world.check()
    assert outcome(report) == {**ALL_OK, ("webhooks", NUMBER): "webhook_mismatch"}
    mismatch = next(r for r in report["results"] if r["kind"] == "webhooks")
    assert "old-tunnel.example.com" in mismatch["error"]["message"]


async def test_without_twilio_credentials_the_carrier_is_not_configured(world: World) -> None:
    _, report, _ = await world.check(TWILIO_ACCOUNT_SID="", TWILIO_AUTH_TOKEN="")
    assert [(r["provider"], r["error"]["code"]) for r in report["results"] if r["provider"] == "twilio"] == [
        ("twilio", "not_configured")]


async def test_the_voice_and_whatsapp_checks_run_their_channels_only(world: World) -> None:
    status, voice, _ = await world.check("/api/voice/validate", {"agent_id": str(world.agent_id)})
    assert status == 200
    assert outcome(voice) == {k: v for k, v in ALL_OK.items() if k != ("llm", "gpt-agent")}
    _, whatsapp, _ = await world.check("/api/whatsapp/validate", {"agent_id": str(world.agent_id)})
    assert outcome(whatsapp) == {("llm", "gpt-agent"): "ok", ("account", FakeTwilio.account_sid): "ok",
                                 ("webhooks", NUMBER): "ok"}


async def test_a_seventh_check_in_a_minute_is_429(world: World) -> None:
    client: Client = await world.start()
    path = f"/api/agents/{world.agent_id}/validate"
    statuses = [(await client.post(path, headers=world.tenant.headers)).status for _ in range(7)]
    assert statuses == [200] * 6 + [429]


async def test_local_providers_say_so(world: World) -> None:
    _, report, _ = await world.check(OPENAI_API_KEY="", DEEPGRAM_API_KEY="")
    local = {(r["kind"], r["provider"], r["local"]) for r in report["results"] if r["kind"] in ("llm", "tts", "stt")}
    assert local == {("llm", "local", True), ("tts", "local", True), ("stt", "local", True)}
