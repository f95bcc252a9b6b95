"""The app on a real socket in its own thread, with its fakes and a seeded business, for schemathesis to drive.

Schemathesis sends requests synchronously (requests), so the server cannot share the test's
event loop: it runs on a loop in a background thread, with Twilio, Stripe and OpenAI fakes on
the same loop, all on 127.0.0.1. `row_counts` reads every table in one statement, so a test
can check that a request answered 4xx wrote nothing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from collections.abc import Coroutine
from concurrent.futures import Future
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import schemathesis
from aiohttp import web

from agent_server import agents, auth, tenants
from agent_server.app import make_app
from agent_server.config import Settings, load_settings
from billing import ledger
from phone_numbers import registry
from storage.pool import init_connection
from tests.conftest import JWT_SECRET, PUBLIC_URL, TEMPLATE, PgServer, fund_wallet

# A sign-in link exchanged with a wrong token is a 401 that must still be counted (the per-IP exchange
# limit exists for failed attempts), so the first one from an address adds its limiter row: a counter,
# not data. Every other limiter row still counts.
_COUNTS = {"rate_limits": "(SELECT count(*) FROM rate_limits WHERE key NOT LIKE 'customer_exchange_ip:%')"}
from tests.fake_openai import FakeOpenAi
from tests.fake_stripe import FakeStripe, running
from tests.fake_twilio import FakeTwilio

T = TypeVar("T")
CONFIG = Path(__file__).resolve().parents[3] / "config.toml"
# Numbers the fake carrier sells, and numbers the fake account owns, so generated purchases and
# imports can succeed and be edited and released.
OFFERED = tuple(f"+1415555{n:04d}" for n in range(40))
OWNED = tuple(f"+1415556{n:04d}" for n in range(40))
# Where `fresh_number` draws numbers no earlier request can have taken, and `fresh_phone` customers' phones.
FRESH_PREFIX = "+1415557"
FRESH_PHONE_PREFIX = "+1415558"


@dataclasses.dataclass(frozen=True)
class Seeded:
    business_id: uuid.UUID
    agent_id: uuid.UUID
    token: str


class FuzzServer:
    """Start with :meth:`start`, call with `base_url` and `headers`, stop with :meth:`stop`."""

    def __init__(self, pg: PgServer) -> None:
        self._pg = pg
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fuzz-server", daemon=True)
        self._stack = AsyncExitStack()
        self.database = f"fuzz_{uuid.uuid4().hex[:12]}"
        self.base_url = ""
        self.seeded: Seeded | None = None
        self._pool: asyncpg.Pool | None = None
        self._count_sql = ""
        self.tables: tuple[str, ...] = ()
        # Row counts known to be current (nothing has been sent since they were taken), or None.
        self.settled_counts: tuple[int, ...] | None = None
        self.number_id = uuid.UUID(int=0)
        self._twilio: FakeTwilio | None = None
        self._fresh = 0
        self._fresh_phones = 0

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return future.result(timeout)

    def start(self) -> None:
        self._thread.start()
        self.run(self._start(), timeout=120)

    def stop(self) -> None:
        self.run(self._stack.aclose(), timeout=60)
        self.run(self._drop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def headers(self) -> dict[str, str]:
        assert self.seeded is not None
        return {"Authorization": f"Bearer {self.seeded.token}"}

    def row_counts(self) -> tuple[int, ...]:
        """The row count of every table (in the order of `tables`), in one statement."""
        return self.run(self._counts())

    def changed_tables(self, before: tuple[int, ...], after: tuple[int, ...]) -> dict[str, tuple[int, int]]:
        """The tables whose row count differs between two `row_counts`, with both counts.

        `rate_limits` counts only when it grew: the server's cleanup (`rate_limits.forget_idle`,
        on its own timer) deletes idle limiter rows whenever it runs, so a drop there is the clock,
        never the request.
        """
        return {name: (b, a) for name, b, a in zip(self.tables, before, after, strict=True)
                if b != a and not (name == "rate_limits" and a < b)}

    def fresh_number(self, *, owned: bool) -> str:
        """A number nothing has used yet, for sale at the fake carrier or (`owned`) in its account to import."""
        self._fresh += 1
        number = f"{FRESH_PREFIX}{self._fresh:04d}"
        self.run(self._make_available(number, owned=owned))
        return number

    def fresh_phone(self) -> str:
        """A customer's phone no contact or text has used yet."""
        self._fresh_phones += 1
        return f"{FRESH_PHONE_PREFIX}{self._fresh_phones:04d}"

    def seed_body(self, case: schemathesis.Case[Any], phone_number: str) -> None:
        """The body's ids name the seeded business and agent, its number one the fake carrier has.

        Only strings are replaced: a null `agentId` (unassign) or a value of the wrong type stays as drawn."""
        assert self.seeded is not None
        if isinstance(case.body, dict):
            for name, value in (("businessId", str(self.seeded.business_id)), ("chatbotId", str(self.seeded.agent_id)),
                                ("agentId", str(self.seeded.agent_id)), ("phoneNumber", phone_number),
                                ("countryCode", "US")):
                if isinstance(case.body.get(name), str):
                    case.body[name] = value

    async def _make_available(self, number: str, *, owned: bool) -> None:
        assert self._twilio is not None
        if owned:
            self._twilio.own(number)
        else:
            self._twilio.offer(number)

    def carrier_released(self) -> list[str]:
        """The numbers released at the fake carrier (DELETE IncomingPhoneNumbers), in order."""
        return self.run(self._released())

    async def _released(self) -> list[str]:
        assert self._twilio is not None
        return list(self._twilio.released)

    def ledger_violations(self) -> list[str]:
        assert self._pool is not None
        return self.run(ledger.conservation_violations(self._pool))

    async def _start(self) -> None:
        admin = await asyncpg.connect(self._pg.dsn("postgres"))
        try:
            await admin.execute(f"CREATE DATABASE {self.database} TEMPLATE {TEMPLATE}")
        finally:
            await admin.close()
        twilio = await self._stack.enter_async_context(FakeTwilio())
        self._twilio = twilio
        for number in OFFERED:
            twilio.offer(number)
        for number in OWNED:
            twilio.own(number)
        stripe = FakeStripe()
        stripe_base = await self._stack.enter_async_context(running(stripe))
        openai = FakeOpenAi()
        await openai.start()
        self._stack.push_async_callback(openai.close)
        settings = load_settings(path=CONFIG, env={
            "DATABASE_URL": self._pg.dsn(self.database), "SUPABASE_JWT_SECRET": JWT_SECRET, "PUBLIC_URL": PUBLIC_URL,
            "TWILIO_ACCOUNT_SID": twilio.account_sid, "TWILIO_AUTH_TOKEN": twilio.auth_token,
            "TWILIO_API_BASE": twilio.base_url, "STRIPE_SECRET_KEY": stripe.secret_key,
            "STRIPE_WEBHOOK_SECRET": "whsec_fuzz", "STRIPE_API_BASE": stripe_base,
            "OPENAI_API_KEY": openai.state.options.api_key, "OPENAI_BASE_URL": openai.base_url,
            "CUSTOMER_JWT_SECRET": "customer-portal-fuzz-secret-0123456789abcdef"})
        # No job runner and no SMS dispatcher: they write rows on their own clock, which the per-request row
        # check would blame on whatever request was in flight. Jobs and texts a request queues are still counted.
        settings = dataclasses.replace(settings, jobs=dataclasses.replace(settings.jobs, run_in_process=False),
                                       sms=dataclasses.replace(settings.sms, dispatcher_in_process=False))
        await self._serve(settings)

    async def _serve(self, settings: Settings) -> None:
        runner = web.AppRunner(make_app(settings))
        await runner.setup()
        self._stack.push_async_callback(runner.cleanup)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        self.base_url = f"http://{host}:{port}"
        pool = await asyncpg.create_pool(self._pg.dsn(self.database), min_size=1, max_size=2, init=init_connection)
        assert pool is not None
        self._pool = pool
        self._stack.push_async_callback(pool.close)
        tables = await pool.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        self.tables = tuple(t["tablename"] for t in tables)
        self._count_sql = "SELECT " + ", ".join(_COUNTS.get(name, f'(SELECT count(*) FROM "{name}")')
                                                for name in self.tables)
        business_id = await tenants.create_business(pool, "Fuzz Inc")
        user_id = await tenants.create_user(pool, "fuzz@example.com")
        await tenants.add_member(pool, business_id, user_id, "owner")
        await fund_wallet(pool, business_id, amount=10_000_000)
        agent_id = await agents.create_agent(pool, business_id, "Fuzz agent")
        self.number_id = await registry.add_number(pool, business_id, "+14155550100", agent_id=agent_id)
        self.seeded = Seeded(business_id, agent_id, auth.mint_token(settings.auth, user_id, ttl_seconds=3000))

    async def _counts(self) -> tuple[int, ...]:
        assert self._pool is not None
        row = await self._pool.fetchrow(self._count_sql)
        assert row is not None
        return tuple(row.values())

    async def _drop(self) -> None:
        admin = await asyncpg.connect(self._pg.dsn("postgres"))
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")
        finally:
            await admin.close()
