"""What every CLI command shares: settings, the database URL and output in text or JSON."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import orjson

from agent_server.config import Settings, load_settings
from agent_server.db import database_url
from agent_server.logs import configure_logging
from agent_server.migrations import migrate
from storage.pool import create_pool

T = TypeVar("T")


class CliError(Exception):
    """A command failed for a reason the operator can fix; printed without a traceback."""


@dataclasses.dataclass(frozen=True)
class Context:
    settings: Settings

    @classmethod
    def load(cls) -> Context:
        settings = load_settings()
        configure_logging(settings.logging.level)
        return cls(with_dev_secrets(settings))

    def dsn(self) -> str:
        return database_url(self.settings.database)

    def run_db(self, fn: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
        """Run `fn` with a small pool on a migrated database."""
        async def go() -> T:
            dsn = self.dsn()
            await migrate(dsn)
            pool = await create_pool(dsn, dataclasses.replace(self.settings.database, pool_min_size=1,
                                                              pool_max_size=2))
            try:
                return await fn(pool)
            finally:
                await pool.close()
        return asyncio.run(go())


def with_dev_secrets(settings: Settings) -> Settings:
    """On the embedded database, fill missing signing secrets with per-checkout random ones.

    `make run` must work with no accounts: its dashboard token must survive a restart
    (SUPABASE_JWT_SECRET), and so must a customer's portal session (CUSTOMER_JWT_SECRET);
    `agent-server call` must sign webhooks the server accepts (TWILIO_AUTH_TOKEN). Each is kept beside the embedded data (`.data/dev-*`, never
    committed). A deployment with DATABASE_URL gets no such fallback: it sets the real ones.
    """
    if settings.database.url:
        return settings
    if not settings.auth.jwt_secret:
        auth = dataclasses.replace(settings.auth, jwt_secret=_dev_secret(settings, "dev-jwt-secret"))
        settings = dataclasses.replace(settings, auth=auth)
    if not settings.twilio.auth_token:
        twilio = dataclasses.replace(settings.twilio, auth_token=_dev_secret(settings, "dev-twilio-auth-token"))
        settings = dataclasses.replace(settings, twilio=twilio)
    if not settings.customers.jwt_secret:
        customers = dataclasses.replace(settings.customers,
                                        jwt_secret=_dev_secret(settings, "dev-customer-jwt-secret"))
        settings = dataclasses.replace(settings, customers=customers)
    return settings


def _dev_secret(settings: Settings, name: str) -> str:
    path = Path(settings.database.data_dir).resolve().parent / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def output(args: argparse.Namespace, data: dict[str, Any], text: str) -> int:
    """Print `data` as JSON with --json, else the human sentence."""
    if getattr(args, "json", False):
        sys.stdout.write(orjson.dumps(data, default=str).decode() + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
