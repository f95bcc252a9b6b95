"""The token caps' own connection pool: every reply's reserve and settle, and every call's blocks.

Reserve and settle are one statement each (`llm_usage.token_budgets`), and one busy agent's
replies queue on its day and month rows, so what bounds them is how long each statement keeps
those rows locked. Two things on these connections shorten it:

- no reset query when a connection goes back to the pool (asyncpg's would be a second round
  trip per use): these statements leave nothing on a session; a transaction left open (the
  sweeper's) is still rolled back by asyncpg;
- `synchronous_commit = off`: a commit returns (and releases its row locks) without waiting for
  its WAL record to reach the disk, so the next reply of the same agent does not queue behind a
  flush. The cost, written down on purpose: if the database server itself crashes, the last
  fraction of a second of reservations and settlements can be lost (never corrupted). A lost
  reservation was never reserved; a lost settlement leaves its reservation open until the
  sweeper closes it. So after a database crash an agent may use a few replies' tokens beyond
  its cap: a cap is a spending limit on a provider's tokens, not money; wallet holds and the
  ledger stay on the main pool with synchronous commits.

A burst of replies waits for these connections, never for the ones calls and money need.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
from aiohttp import web

from agent_server.state import DSN, SETTINGS
from storage.pool import init_connection

POOL_SIZE = 4
"""Connections per process for token caps: each statement takes well under a millisecond, and one
agent's replies queue on its rows whatever the pool's size."""
OPEN_AT_START = 2
"""Opened at start-up, so the first replies don't wait for a backend to start; the rest on demand
(every app process holds these, and the server's connections are shared by all of them)."""

TOKEN_POOL = web.AppKey("token_pool", asyncpg.Pool)


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """Pool reset for connections that only run token statements: nothing to undo."""


async def open_pool(dsn: str, *, size: int = POOL_SIZE, command_timeout: float | None = None) -> asyncpg.Pool:
    """A pool for token caps only (see the module docstring for its two settings)."""
    pool = await asyncpg.create_pool(dsn, min_size=min(OPEN_AT_START, size), max_size=size, command_timeout=command_timeout,
                                     init=init_connection, reset=_keep_session,
                                     server_settings={"synchronous_commit": "off"})
    assert pool is not None
    return pool


async def _token_pool(app: web.Application) -> AsyncIterator[None]:
    app[TOKEN_POOL] = await open_pool(app[DSN], command_timeout=app[SETTINGS].database.command_timeout_seconds)
    try:
        yield
    finally:
        await app[TOKEN_POOL].close()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_token_pool)
