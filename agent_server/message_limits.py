"""The shared abuse limits as the routes use them: check scopes in order, count and log a refusal.

The limits live in PostgreSQL (`conversations.rate_limits`), so every worker process sees
the same count. Scopes are checked narrowest first and stop at the first refusal, so one
noisy conversation or sender spends its own budget, not its IP's or its number's.

Checks go through a small pool of their own. A check is one statement that leaves nothing
behind on the session (no transaction, setting, cursor, LISTEN or advisory lock), so its
connections are returned without asyncpg's reset query, which would otherwise double the
round trips and the database's work per check (bench/limits.py); and a burst of visitors
waits for these connections, never for the ones calls and money need.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import asyncpg
import structlog
from aiohttp import web

from agent_server.metrics import METRICS
from agent_server.state import DSN, SETTINGS
from conversations import rate_limits
from conversations.rate_limits import Scope

log = structlog.get_logger(__name__)

POOL_SIZE = 4
"""Connections per process for limit checks: each takes well under a millisecond."""

LIMITS_POOL = web.AppKey("limits_pool", asyncpg.Pool)


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Pool reset for connections that only ever run single limit statements: nothing to undo."""


async def open_pool(dsn: str, *, size: int = POOL_SIZE, command_timeout: float | None = None) -> asyncpg.Pool:
    """A pool for limit checks only (see the module docstring for why it skips the reset)."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=size, command_timeout=command_timeout,
                                     reset=_keep_session)
    assert pool is not None
    return pool


async def within_limits(app: web.Application, checks: Sequence[tuple[Scope, str]]) -> bool:
    """Whether a message passes every `(scope, subject)` limit; a refusal is counted by scope.

    Each check that passes is spent even when a later one refuses, as with any chain of limits.
    """
    table = rate_limits.limits(app[SETTINGS].messaging)
    for scope, subject in checks:
        if not await rate_limits.allow(app[LIMITS_POOL], scope, subject, table[scope]):
            app[METRICS].rate_limited.labels(scope.value).inc()
            log.info("rate_limited", scope=scope.value)
            return False
    return True


async def _limits_pool(app: web.Application) -> AsyncIterator[None]:
    app[LIMITS_POOL] = await open_pool(app[DSN], command_timeout=app[SETTINGS].database.command_timeout_seconds)
    try:
        yield
    finally:
        await app[LIMITS_POOL].close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_limits_pool)
