"""A phone line for call tests: the real app wired to fake Deepgram and OpenAI, a business with an agent and a number."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server import agents
from agent_server.config import Settings
from media.caller_simulator import CallerSimulator, CallResult, Step
from phone_numbers import registry
from tests.conftest import PUBLIC_URL, MakeBusiness, MakeClient, MakeSettings, Tenant, fund_wallet
from tests.audio_samples import silence_mulaw, tone_mulaw
from tests.fake_deepgram import FakeDeepgram
from tests.fake_openai import FakeOpenAi
from tests.fake_twilio import FakeTwilio

AUTH_TOKEN = "twilio-test-auth-token"
NUMBER = "+14155550100"
GREETING = "Hello, thanks for calling Acme."


def speech(seconds: float = 0.5) -> bytes:
    """A caller's line: the fake Deepgram hears a tone as speech and answers from its script."""
    return tone_mulaw(seconds, freq=220.0) + silence_mulaw(0.02)


@dataclasses.dataclass
class Line:
    """Everything a call test touches."""

    client: TestClient[web.Request, web.Application]
    deepgram: FakeDeepgram
    openai: FakeOpenAi
    pool: asyncpg.Pool
    tenant: Tenant
    agent_id: uuid.UUID
    http: aiohttp.ClientSession
    settings: Settings

    @property
    def server_url(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    def simulator(self, auth_token: str = AUTH_TOKEN) -> CallerSimulator:
        return CallerSimulator(self.server_url, auth_token, self.http, public_url=PUBLIC_URL, quiet_timeout=10.0)

    async def call(self, steps: list[Step], to_number: str = NUMBER, call_sid: str | None = None) -> CallResult:
        return await self.simulator().call(to_number, steps, call_sid=call_sid)

    def call_requests(self) -> list[dict[str, Any]]:
        """The chat requests the calls made, in order: the post-call analysis (structured output) left out, since
        the job runner, woken as the call ends, may send it before a test reads the call's last request."""
        return [r for r in self.openai.state.chat_requests if "response_format" not in r]

    async def turns(self, call_sid: str) -> list[dict[str, Any]]:
        rows = await self.pool.fetch(
            "SELECT t.role, t.text, t.interrupted, t.server_latency_ms, t.ear_latency_ms FROM call_turns t"
            " JOIN calls c ON c.id = t.call_id WHERE c.call_sid = $1 ORDER BY t.seq", call_sid)
        return [dict(r) for r in rows]

    async def call_row(self, call_sid: str) -> dict[str, Any]:
        row = await self.pool.fetchrow("SELECT * FROM calls WHERE call_sid = $1", call_sid)
        assert row is not None
        return dict(row)

    async def settled(self) -> None:
        """Wait until the server has torn every call down (its handler runs after the socket closes)."""
        for _ in range(200):
            if not [t for t in asyncio.all_tasks() if "CallSession" in repr(t.get_coro())]:
                return
            await asyncio.sleep(0.01)


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    """Twilio's REST API for call control; request it before ``line_factory`` so it outlives the app."""
    async with FakeTwilio(auth_token=AUTH_TOKEN) as fake:
        yield fake


@pytest.fixture
async def line_factory(make_settings: MakeSettings, make_client: MakeClient, make_business: MakeBusiness,
                       pool: asyncpg.Pool) -> AsyncIterator[Any]:
    """Build a :class:`Line`; ``calls``, ``billing``, ``llm``, ``knowledge``, ``recordings`` override settings; ``funds`` pays for the calls."""
    fakes: list[Any] = []
    sessions: list[aiohttp.ClientSession] = []

    async def build(*, greeting: str = GREETING, transfer_number: str | None = None, twilio: FakeTwilio | None = None,
                    deepgram_options: dict[str, Any] | None = None, calls: dict[str, Any] | None = None,
                    billing: dict[str, Any] | None = None, llm: dict[str, Any] | None = None,
                    knowledge: dict[str, Any] | None = None, recordings: dict[str, Any] | None = None,
                    funds: int = 100_000) -> Line:
        deepgram = FakeDeepgram(**{"speak_bytes_per_char": 80, **(deepgram_options or {})})
        openai = FakeOpenAi()
        fakes.extend([deepgram, openai])
        env = {"TWILIO_AUTH_TOKEN": AUTH_TOKEN, "DEEPGRAM_API_KEY": "test-key", "DEEPGRAM_BASE_URL": await deepgram.start(),
               "OPENAI_API_KEY": "test-key", "OPENAI_BASE_URL": await openai.start()}
        if twilio is not None:
            env.update(TWILIO_ACCOUNT_SID=twilio.account_sid, TWILIO_API_BASE=twilio.base_url)
        settings = make_settings(**env)
        quick = {"false_interruption_timeout_seconds": 0.4, **(calls or {})}
        settings = dataclasses.replace(settings, calls=dataclasses.replace(settings.calls, **quick),
                                       billing=dataclasses.replace(settings.billing, **(billing or {})),
                                       llm=dataclasses.replace(settings.llm, **(llm or {})),
                                       knowledge=dataclasses.replace(settings.knowledge, **(knowledge or {})),
                                       recordings=dataclasses.replace(settings.recordings, **(recordings or {})))
        client = await make_client(settings)
        tenant = await make_business("Acme")
        agent_id = await agents.create_agent(pool, tenant.business_id, "Reception", greeting=greeting,
                                             system_prompt="You answer the phone for Acme.",
                                             transfer_number=transfer_number)
        await registry.add_number(pool, tenant.business_id, NUMBER, agent_id=agent_id)
        if funds:
            await fund_wallet(pool, tenant.business_id, funds)
        http = aiohttp.ClientSession()
        sessions.append(http)
        return Line(client, deepgram, openai, pool, tenant, agent_id, http, settings)

    yield build
    for http in sessions:
        await http.close()
    for fake in fakes:
        await fake.close()
