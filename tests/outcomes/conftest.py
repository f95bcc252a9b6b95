"""Fixtures for outcomes: a funded business with an agent, seeded conversations, an analyser against the OpenAI fake."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import aiohttp
import asyncpg
import pytest

from agent_server import agents
from agent_server.config import Settings
from agent_server.outcome_jobs import unsubscribe_links
from agent_server.reply_billing import WalletReplyPayment
from conversations import records
from media.llm.openai_sse import OpenAiSseChat
from outcomes.analysis import Analyser
from outcomes.config import OutcomesConfig
from phone_numbers import registry
from tests.conftest import MakeBusiness, MakeSettings, Tenant, fund_wallet
from tests.fake_openai import FakeOpenAi
from tests.jobs.clock import ManualClock

OUR_NUMBER = "+14155550100"


@dataclasses.dataclass(frozen=True)
class Shop:
    tenant: Tenant
    agent_id: uuid.UUID
    number_id: uuid.UUID

    @property
    def business_id(self) -> uuid.UUID:
        return self.tenant.business_id

    @property
    def headers(self) -> Mapping[str, str]:
        return self.tenant.headers


@pytest.fixture
async def shop(pool: asyncpg.Pool, make_business: MakeBusiness) -> Shop:
    tenant = await make_business("Bakery", email="owner@bakery.example")
    await fund_wallet(pool, tenant.business_id)
    agent_id = await agents.create_agent(pool, tenant.business_id, "Baker")
    number_id = await registry.add_number(pool, tenant.business_id, OUR_NUMBER, agent_id=agent_id)
    return Shop(tenant, agent_id, number_id)


@pytest.fixture
def outcome_settings(make_settings: MakeSettings, fake_openai: FakeOpenAi) -> Settings:
    """The LLM pointed at the fake; no in-process runner, so a test runs each job itself."""
    settings = make_settings(OPENAI_API_KEY=fake_openai.state.options.api_key, OPENAI_BASE_URL=fake_openai.base_url)
    return dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs, run_in_process=False))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime.datetime.now(datetime.UTC))


@pytest.fixture
async def analyser(pool: asyncpg.Pool, outcome_settings: Settings, fake_openai: FakeOpenAi,
                   clock: ManualClock) -> AsyncIterator[Analyser]:
    async with aiohttp.ClientSession() as session:
        llm = OpenAiSseChat(session, fake_openai.state.options.api_key, fake_openai.base_url)
        yield Analyser(pool, llm, WalletReplyPayment(pool, outcome_settings.billing), OutcomesConfig(),
                       links=unsubscribe_links(outcome_settings), clock=clock)


async def widget_conversation(pool: asyncpg.Pool, shop: Shop, messages: Sequence[tuple[str, str]]) -> uuid.UUID:
    """A widget conversation with these (role, text) messages."""
    conversation_id = uuid.uuid4()
    await records.create_conversation(pool, conversation_id, agent_id=shop.agent_id, business_id=shop.business_id,
                                      origin="https://bakery.example")
    for role, text in messages:
        await records.add_widget_message(pool, conversation_id, role, text)
    return conversation_id


async def sms_thread(pool: asyncpg.Pool, shop: Shop, sender: str, messages: Sequence[tuple[str, str]],
                     at: datetime.datetime | None = None) -> None:
    """SMS messages between `sender` and our number ('user' inbound, 'assistant' outbound), a second apart."""
    start = at or datetime.datetime.now(datetime.UTC)
    for i, (role, text) in enumerate(messages):
        inbound = role == "user"
        await pool.execute(
            "INSERT INTO sms_messages (business_id, number_id, agent_id, message_sid, direction, from_number,"
            " to_number, body, status, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'received', $9)",
            shop.business_id, shop.number_id, shop.agent_id, f"SM{uuid.uuid4().hex}",
            "inbound" if inbound else "outbound", sender if inbound else OUR_NUMBER,
            OUR_NUMBER if inbound else sender, text, start + datetime.timedelta(seconds=i))


def analysis_json(*, name: str | None = "Maria Lopez", phone: str | None = None, email: str | None = None,
                  summary: str = "Maria asked about a wedding cake. She wants a quote.", **lead: Any) -> dict[str, Any]:
    """A valid analysis document, as a model honouring the schema answers."""
    return {"summary": summary, "sentiment": "positive", "outcome": "needs_followup", "topics": ["wedding cake"],
            "lead": {"name": name, "phone": phone, "email": email, "company": lead.get("company"),
                     "intent": lead.get("intent", "wedding cake quote"), "confidence": lead.get("confidence", 80),
                     "reason": "asked for a quote"},
            "fields": {}}
