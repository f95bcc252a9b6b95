"""The `action_executions` table: one row per run of an action, claimed by its idempotency key before it acts.

A run's key (`conversation:tool_call_id`, or the execute route's own) is unique per business:
`claim` inserts the row `running` or finds the one already there, so a retried tool call never
acts twice and gets the first run's result. A run that died mid-way stays `running`; a retry of
it waits up to its timeout and is then told it is still running, never run again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import time
import uuid
from typing import Any, Literal

import asyncpg

from storage.executor import Executor

Status = Literal["running", "succeeded", "failed", "timed_out"]
_COLUMNS = ("id, action_id, conversation_id, channel, idempotency_key, input, output, error, status, duration_ms,"
            " started_at, finished_at")


@dataclasses.dataclass(frozen=True)
class Execution:
    id: uuid.UUID
    action_id: uuid.UUID
    conversation_id: uuid.UUID | None
    channel: str
    idempotency_key: str
    input: dict[str, Any]
    output: Any
    error: str | None
    status: Status
    duration_ms: int | None
    started_at: datetime.datetime
    finished_at: datetime.datetime | None


def _execution(row: asyncpg.Record) -> Execution:
    return Execution(**dict(row))


async def claim(db: Executor, business_id: uuid.UUID, action_id: uuid.UUID, key: str, arguments: dict[str, Any], *,
                conversation_id: uuid.UUID | None, channel: str, now: datetime.datetime) -> tuple[Execution, bool]:
    """The run of this key: a new `running` row (True), or the row an earlier run wrote (False)."""
    row = await db.fetchrow(
        "INSERT INTO action_executions (business_id, action_id, conversation_id, channel, idempotency_key, input,"
        f" started_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (business_id, idempotency_key) DO NOTHING"
        f" RETURNING {_COLUMNS}", business_id, action_id, conversation_id, channel, key, arguments, now)
    if row is not None:
        return _execution(row), True
    found = await db.fetchrow(f"SELECT {_COLUMNS} FROM action_executions WHERE business_id = $1"
                              " AND idempotency_key = $2", business_id, key)
    assert found is not None
    return _execution(found), False


async def finish(db: Executor, execution_id: uuid.UUID, status: Status, *, output: Any, error: str | None,
                 duration_ms: int, now: datetime.datetime) -> Execution:
    row = await db.fetchrow(f"UPDATE action_executions SET status = $2, output = $3, error = $4, duration_ms = $5,"
                            f" finished_at = $6 WHERE id = $1 RETURNING {_COLUMNS}",
                            execution_id, status, output, error, duration_ms, now)
    assert row is not None
    return _execution(row)


async def settled(db: Executor, execution: Execution, *, within: float, poll: float = 0.05) -> Execution:
    """The earlier run once it has finished, or as it stands after `within` seconds."""
    deadline = time.monotonic() + within
    while execution.status == "running" and time.monotonic() < deadline:
        await asyncio.sleep(poll)
        row = await db.fetchrow(f"SELECT {_COLUMNS} FROM action_executions WHERE id = $1", execution.id)
        assert row is not None
        execution = _execution(row)
    return execution


async def of_action(db: Executor, action_id: uuid.UUID, *, limit: int,
                    before: tuple[datetime.datetime, uuid.UUID] | None = None) -> list[Execution]:
    """The action's runs, newest first, after the cursor `before` (started_at, id)."""
    if before is None:
        rows = await db.fetch(f"SELECT {_COLUMNS} FROM action_executions WHERE action_id = $1"
                              " ORDER BY started_at DESC, id DESC LIMIT $2", action_id, limit)
    else:
        rows = await db.fetch(f"SELECT {_COLUMNS} FROM action_executions WHERE action_id = $1"
                              " AND (started_at, id) < ($3, $4) ORDER BY started_at DESC, id DESC LIMIT $2",
                              action_id, limit, *before)
    return [_execution(r) for r in rows]
