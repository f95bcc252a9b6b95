"""One way to open a transaction on whatever a repository function was given."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from storage.executor import Connection, Executor


@asynccontextmanager
async def transaction(db: Executor) -> AsyncIterator[Connection]:
    """A transaction on `db`: a new one on a pool connection, a savepoint inside a caller's.

    The savepoint lets a caller (the Stripe webhook, the rent job) put its own rows in the same
    commit as a ledger entry, while a failure inside rolls back only this part.
    """
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn, conn.transaction():
            yield conn
    else:
        async with db.transaction():
            yield db
