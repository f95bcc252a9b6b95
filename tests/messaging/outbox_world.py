"""A business with numbers, contacts and a wallet, a fake Twilio, an injected clock and a dispatcher over them."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import random
import uuid
from collections.abc import AsyncIterator

import asyncpg

from billing.money import Currency
from messaging import contacts
from messaging.config import SmsConfig
from messaging.dispatcher import Dispatcher
from messaging.outbox import Message
from messaging.sending import SendRequest, queue_text
from phone_numbers import registry
from phone_numbers.twilio_carrier import TwilioCarrier
from tests.conftest import PUBLIC_URL, MakeBusiness, fund_wallet
from tests.fake_twilio import FakeTwilio

# The tests move the injected clock in steps of 0.1 s: a claim's look-ahead (two polls) shorter than a step keeps
# every send at the clock time it was claimed, where the dispatcher's wait for a slot ahead is real time.
CONFIG = SmsConfig(price_per_segment_minor=2, backoff_base_seconds=2.0, poll_interval_seconds=0.04)
CALLBACK = PUBLIC_URL + "/api/sms/status"


class Clock:
    """The time the dispatcher reads; tests move it by hand."""

    def __init__(self, start: datetime.datetime) -> None:
        self.now = start

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> datetime.datetime:
        self.now += datetime.timedelta(seconds=seconds)
        return self.now


@dataclasses.dataclass
class World:
    pool: asyncpg.Pool
    business_id: uuid.UUID
    twilio: FakeTwilio
    clock: Clock
    carrier: TwilioCarrier
    dispatcher: Dispatcher

    async def number(self, phone: str, number_type: str = "local") -> uuid.UUID:
        self.twilio.own(phone)
        number_id = await registry.add_number(self.pool, self.business_id, phone)
        await self.pool.execute("UPDATE business_numbers SET number_type = $2 WHERE id = $1", number_id, number_type)
        return number_id

    async def contact(self, phone: str, *, timezone: str | None = None, consent: bool = True) -> uuid.UUID:
        created = await contacts.create(self.pool, self.business_id, contacts.NewContact(
            phone, first_name="Ana", timezone=timezone, consent_source="form" if consent else None,
            consent_at=self.clock.now if consent else None))
        return created.id

    async def text(self, to: str, body: str = "Hello there", *, category: str = "transactional",
                   from_number_id: uuid.UUID | None = None, contact_id: uuid.UUID | None = None) -> Message:
        queued = await queue_text(self.pool, SendRequest(
            self.business_id, body, category, uuid.uuid4().hex, to_phone=None if contact_id else to,
            contact_id=contact_id, from_number_id=from_number_id), CONFIG, Currency.USD, now=self.clock.now)
        return queued.message

    async def status(self, message_id: uuid.UUID) -> str:
        found: str = await self.pool.fetchval("SELECT status FROM sms_outbox WHERE id = $1", message_id)
        return found

    async def drain(self, seconds: int, step: float = 1.0) -> None:
        """Run the dispatcher while the clock moves `seconds` on, one `step` at a time."""
        for _ in range(int(seconds / step)):
            while await self.dispatcher.run_once():
                pass
            self.clock.advance(step)


def dispatcher_for(pool: asyncpg.Pool, carrier: TwilioCarrier, clock: Clock) -> Dispatcher:
    return Dispatcher(pool, carrier, CONFIG, Currency.USD, status_callback_base=CALLBACK, clock=clock,
                      rng=random.Random(7))


@contextlib.asynccontextmanager
async def opened_world(pool: asyncpg.Pool, make_business: MakeBusiness, start: datetime.datetime, *,
                       funded: bool = True, timeout_seconds: float = 0.3) -> AsyncIterator[World]:
    """A business ("Texting Co", its wallet topped up unless `funded` is False), the Twilio fake, and a
    dispatcher over them on an injected clock starting at `start`; the tests' `world` fixtures add their numbers."""
    tenant = await make_business("Texting Co")
    if funded:
        await fund_wallet(pool, tenant.business_id)
    async with FakeTwilio() as twilio:
        carrier = TwilioCarrier(twilio.account_sid, twilio.auth_token, twilio.base_url, timeout_seconds=timeout_seconds)
        clock = Clock(start)
        try:
            yield World(pool, tenant.business_id, twilio, clock, carrier, dispatcher_for(pool, carrier, clock))
        finally:
            await carrier.aclose()
