"""The asyncpg pool: JSON codecs and timeouts set once for every connection."""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson

from storage.config import DatabaseConfig


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    """Decode json/jsonb to Python objects so repositories never parse by hand."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """A pool reset that sends nothing (asyncpg still rolls back a transaction left open)."""


async def create_pool(dsn: str, config: DatabaseConfig, *, keep_sessions: bool = False) -> asyncpg.Pool:
    """The pool; `keep_sessions` skips asyncpg's reset query on release (one round trip per use).

    Only for code that leaves nothing on a session: no setting, cursor, LISTEN or session
    advisory lock (transaction-scoped locks end with their transaction).
    """
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min(config.pool_min_size, config.pool_max_size),
        max_size=config.pool_max_size,
        command_timeout=config.command_timeout_seconds,
        init=init_connection,
        reset=_keep_session if keep_sessions else None,
    )
    assert pool is not None
    return pool
