"""Shared fixtures: one embedded PostgreSQL per test run, a fresh database per test, the app.

The schema is migrated once into a template database; each test gets `CREATE DATABASE ...
TEMPLATE` (tens of milliseconds), so tests are isolated without re-running migrations.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from agent_server import auth, tenants
from agent_server.app import make_app
from agent_server.config import Settings, load_settings
from agent_server.embedded_db import start_embedded, stop_embedded
from agent_server.migrations import migrate
from billing import ledger
from storage.pool import init_connection
from tests.fake_openai import FakeOpenAi

JWT_SECRET = "test-jwt-secret-with-enough-entropy-for-hs256-and-hs512-0123456789"
PUBLIC_URL = "https://agent.example.test"
TEMPLATE = "template_migrated"


@dataclasses.dataclass(frozen=True)
class PgServer:
    """The per-run embedded server; `dsn(db)` names a database on it."""

    base_dsn: str

    def dsn(self, database: str) -> str:
        head, _, query = self.base_dsn.partition("?")
        return f"{head.rsplit('/', 1)[0]}/{database}?{query}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    # Not under pytest's tmp_path: pytest prunes old basetemp folders when another run
    # starts, which would delete a concurrent run's live database.
    root = Path(tempfile.mkdtemp(prefix="agent-server-pg-"))
    server = PgServer(start_embedded(root / "data"))

    async def build_template() -> None:
        conn = await asyncpg.connect(server.dsn("postgres"))
        try:
            # A throwaway server: durability buys nothing here, and without fsync each test's
            # CREATE DATABASE ... TEMPLATE takes about 50 ms instead of 300-700 ms.
            for setting in ("fsync", "synchronous_commit", "full_page_writes"):
                await conn.execute(f"ALTER SYSTEM SET {setting} = off")
            await conn.execute("SELECT pg_reload_conf()")
            await conn.execute(f"DROP DATABASE IF EXISTS {TEMPLATE}")
            await conn.execute(f"CREATE DATABASE {TEMPLATE}")
        finally:
            await conn.close()
        await migrate(server.dsn(TEMPLATE))

    asyncio.run(build_template())
    yield server
    stop_embedded(root / "data")
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
async def database_url(pg_server: PgServer) -> AsyncIterator[str]:
    """A fresh, migrated database for this test alone."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    finally:
        await conn.close()
    yield pg_server.dsn(name)
    conn = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


MakeSettings = Callable[..., Settings]


@pytest.fixture
def make_settings(database_url: str) -> MakeSettings:
    """Settings as production builds them (config.toml + environment), for this test's database.

    Keyword arguments are extra environment variables, e.g. `make_settings(OPENAI_BASE_URL=...)`.
    """
    def build(**env: str) -> Settings:
        base: dict[str, str] = {"DATABASE_URL": database_url, "SUPABASE_JWT_SECRET": JWT_SECRET,
                                "PUBLIC_URL": PUBLIC_URL}
        base.update(env)
        return load_settings(env=base, path=Path(__file__).resolve().parent.parent / "config.toml")
    return build


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    created = await asyncpg.create_pool(database_url, min_size=1, max_size=5, init=init_connection)
    assert created is not None
    yield created
    await created.close()


MakeClient = Callable[..., Awaitable[TestClient[web.Request, web.Application]]]


@pytest.fixture
def make_client(settings: Settings, aiohttp_client: Any) -> MakeClient:
    """Start the real app on a real socket; pass Settings to override the defaults.

    `settings` comes first so this test's database outlives the app's pool at teardown.
    """
    async def start(custom: Settings | None = None) -> TestClient[web.Request, web.Application]:
        client: TestClient[web.Request, web.Application] = await aiohttp_client(make_app(custom or settings))
        return client
    return start


@pytest.fixture
async def app_client(make_client: MakeClient) -> TestClient[web.Request, web.Application]:
    return await make_client()


@dataclasses.dataclass(frozen=True)
class Tenant:
    """A business with one owner and a ready dashboard token."""

    business_id: uuid.UUID
    user_id: uuid.UUID
    token: str

    @property
    def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


MakeBusiness = Callable[..., Awaitable[Tenant]]


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAi]:
    """A started OpenAI fake with no delays; adjust ``fake_openai.state.options`` per test."""
    fake = FakeOpenAi()
    await fake.start()
    yield fake
    await fake.close()


@pytest.fixture
def make_business(pool: asyncpg.Pool, settings: Settings) -> MakeBusiness:
    async def create(name: str = "Acme", email: str | None = None, role: str = "owner") -> Tenant:
        business_id = await tenants.create_business(pool, name)
        user_id = await tenants.create_user(pool, email or f"{uuid.uuid4().hex[:10]}@example.com")
        await tenants.add_member(pool, business_id, user_id, role)
        return Tenant(business_id, user_id, auth.mint_token(settings.auth, user_id))
    return create


async def fund_wallet(db: asyncpg.Pool, business_id: uuid.UUID, amount: int = 10_000,
                      currency: str = "USD") -> None:
    """Top a business's wallet up (calls, SMS and chat are paid from it)."""
    from billing import ledger
    from billing.ledger import EntryKind
    from billing.money import Money, parse_currency

    await ledger.credit(db, business_id=business_id, amount=Money(amount, parse_currency(currency)),
                        kind=EntryKind.TOPUP, idempotency_key=f"test-funds:{uuid.uuid4()}", reference="test funds",
                        actor="tests")


@pytest.fixture
def token_for(settings: Settings) -> Callable[[uuid.UUID], str]:
    return lambda user_id: auth.mint_token(settings.auth, user_id)


async def ledger_violations(dsn: str) -> list[str]:
    """Run the SQL conservation check on its own connection."""
    conn = await asyncpg.connect(dsn)
    try:
        return await ledger.conservation_violations(conn)
    finally:
        await conn.close()


@pytest.fixture(autouse=True)
def _conservation_after(request: pytest.FixtureRequest) -> Iterator[None]:
    """Money property 1, after every test that had a database (calls, numbers, SMS included):
    balance == Σ entries and held == Σ active holds, everywhere.

    A plain (sync) fixture: it asks for the test's database up front, so that database is
    torn down after this check, and runs the check outside the test's event loop.
    """
    dsn: str | None = None
    if "database_url" in request.fixturenames:
        dsn = request.getfixturevalue("database_url")
    yield
    if dsn is not None:
        assert asyncio.run(ledger_violations(dsn)) == []


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Provider keys from a developer's shell must never make a test reach a real service."""
    for var in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "DEEPGRAM_API_KEY", "OPENAI_API_KEY",
                "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "OPENAI_BASE_URL", "DATABASE_URL"):
        if var in os.environ:
            monkeypatch.delenv(var)
