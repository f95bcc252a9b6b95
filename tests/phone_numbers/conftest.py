"""Phone number fixtures: the fake Twilio, the app configured against it, funded tenants."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server.config import Settings
from billing import ledger
from billing.ledger import EntryKind
from billing.money import Currency, Money
from phone_numbers import periods, registry
from phone_numbers.registry import NewNumber, Number
from tests.conftest import MakeClient, MakeSettings
from tests.fake_twilio import FakeTwilio

Client = TestClient[web.Request, web.Application]


@pytest.fixture
async def fake_twilio() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio() as fake:
        yield fake


@pytest.fixture
def twilio_settings(make_settings: MakeSettings, fake_twilio: FakeTwilio) -> Settings:
    return make_settings(TWILIO_ACCOUNT_SID=fake_twilio.account_sid, TWILIO_AUTH_TOKEN=fake_twilio.auth_token,
                         TWILIO_API_BASE=fake_twilio.base_url)


@pytest.fixture
async def client(make_client: MakeClient, twilio_settings: Settings) -> Client:
    """The real app with Twilio configured against the fake."""
    return await make_client(twilio_settings)


Fund = Callable[[uuid.UUID, int], Awaitable[None]]


@pytest.fixture
def fund(pool: asyncpg.Pool) -> Fund:
    """Top a business's USD wallet up by an amount of cents."""
    async def top_up(business_id: uuid.UUID, cents: int) -> None:
        await ledger.credit(pool, business_id=business_id, amount=Money(cents, Currency.USD), kind=EntryKind.TOPUP,
                            idempotency_key=f"test-topup:{uuid.uuid4()}", reference="test", actor="test")
    return top_up


async def balance(pool: asyncpg.Pool, business_id: uuid.UUID) -> tuple[int, int]:
    """(balance, held) of the business's USD wallet; (0, 0) before it exists."""
    wallet = await ledger.get_wallet(pool, business_id, Currency.USD)
    return (0, 0) if wallet is None else (wallet.balance, wallet.held)


async def entries(pool: asyncpg.Pool, kind: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        "SELECT amount, idempotency_key, reference FROM ledger_entries WHERE kind = $1 ORDER BY id", kind)
    return rows


async def record_number(pool: asyncpg.Pool, business_id: uuid.UUID, phone: str, *, anchor: datetime.datetime,
                        periods_paid: int = 1, paid_through: datetime.datetime | None = None,
                        monthly_cost: int = 150) -> Number:
    """A Twilio number on record as a purchase would leave it (anchor = when it was bought)."""
    async with pool.acquire() as conn, conn.transaction():
        return await registry.insert_number(conn, NewNumber(
            business_id=business_id, phone_number=phone, display_name="", country_code="US", number_type="local",
            twilio_sid=f"PN{uuid.uuid4().hex}", capabilities={"voice": True, "sms": True, "mms": False},
            voice_url="", sms_url="", status_callback_url="", monthly_cost=monthly_cost, currency="USD",
            rent_anchor=anchor, rent_periods_paid=periods_paid,
            rent_paid_through=paid_through or periods.period_start(anchor, periods_paid)))
