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
from agent_server.db import create_pool, database_url
from agent_server.logs import configure_logging
from agent_server.migrations import migrate

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
        return cls(with_dev_secret(settings))

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


def with_dev_secret(settings: Settings) -> Settings:
    """On the embedded database with no SUPABASE_JWT_SECRET, use a per-checkout random secret.

    `make run` must work with no accounts, and its dashboard token must survive a restart;
    the secret is kept beside the embedded data (`.data/dev-jwt-secret`, never committed).
    A deployment with DATABASE_URL gets no such fallback: it must set the real secret.
    """
    if settings.auth.jwt_secret or settings.database.url:
        return settings
    path = Path(settings.database.data_dir).resolve().parent / "dev-jwt-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    auth = dataclasses.replace(settings.auth, jwt_secret=path.read_text().strip())
    return dataclasses.replace(settings, auth=auth)


def output(args: argparse.Namespace, data: dict[str, Any], text: str) -> int:
    """Print `data` as JSON with --json, else the human sentence."""
    if getattr(args, "json", False):
        sys.stdout.write(orjson.dumps(data, default=str).decode() + "\n")
    else:
        sys.stdout.write(text + "\n")
    return 0


def add_json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")
