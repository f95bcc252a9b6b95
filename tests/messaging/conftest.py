"""Fixtures for SMS and widget tests: an agent with a number, Twilio signing (the OpenAI fake is in tests/conftest.py)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping

import asyncpg
import pytest
from twilio.request_validator import RequestValidator

from agent_server import agents
from agent_server.config import Settings
from phone_numbers import registry
from tests.conftest import PUBLIC_URL, MakeBusiness, MakeSettings, fund_wallet
from tests.fake_openai import FakeOpenAi

TWILIO_TOKEN = "fake-twilio-auth-token"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
OUR_NUMBER = "+14155550100"
FAQ = (agents.FaqEntry("What are your opening hours?", "We are open Monday to Friday, nine to five."),
       agents.FaqEntry("Where are you located?", "We are at 1 Market Street."))


@dataclasses.dataclass(frozen=True)
class Shop:
    business_id: uuid.UUID
    agent_id: uuid.UUID
    token: str

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def messaging_settings(make_settings: MakeSettings, fake_openai: FakeOpenAi) -> Settings:
    """Settings with Twilio's token (for signatures) and the LLM pointed at the fake."""
    return make_settings(TWILIO_AUTH_TOKEN=TWILIO_TOKEN, OPENAI_API_KEY=fake_openai.state.options.api_key,
                         OPENAI_BASE_URL=fake_openai.base_url)


@pytest.fixture
async def shop(pool: asyncpg.Pool, make_business: MakeBusiness) -> Shop:
    """A business whose agent answers OUR_NUMBER, with two FAQ entries and a funded wallet."""
    tenant = await make_business("Corner Dental")
    agent_id = await agents.create_agent(pool, tenant.business_id, "Receptionist",
                                         system_prompt="You are the receptionist of Corner Dental.",
                                         greeting="Hi! How can I help?", faq=FAQ)
    await registry.add_number(pool, tenant.business_id, OUR_NUMBER, agent_id=agent_id, is_primary=True)
    await fund_wallet(pool, tenant.business_id)
    return Shop(tenant.business_id, agent_id, tenant.token)


def signed(path: str, params: Mapping[str, str], token: str = TWILIO_TOKEN) -> dict[str, str]:
    """Headers Twilio would send for a form POST to PUBLIC_URL + path."""
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(PUBLIC_URL + path, dict(params))}
