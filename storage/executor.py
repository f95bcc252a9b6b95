"""What repository functions take: a pool, or a connection that may be inside the caller's transaction."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A connection of its own or one lent by a pool; either may be inside the caller's transaction.
Connection: TypeAlias = asyncpg.Connection | PoolConnectionProxy
# A pool (one statement per acquire) or a connection: what repository functions take.
Executor: TypeAlias = asyncpg.Pool | Connection
