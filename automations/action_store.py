"""The `actions` table: an agent's actions, created under a per-agent lock (the 20-action cap), edited, soft deleted.

A deleted action keeps its row (`deleted_at`) so its executions keep their action; it is gone
for every read here, and its name is free again. The signing secret is made here, once, and
never changes (the API shows it only in the answer that created the action).
"""

from __future__ import annotations

import base64
import datetime
import secrets
import uuid
from typing import Any

import asyncpg

from automations.action_errors import ActionNameTaken, TooManyActions
from automations.action_model import MAX_ACTIONS_PER_AGENT, Action, ActionSpec
from automations.webhook_endpoints import SECRET_PREFIX
from storage.executor import Executor
from storage.transactions import transaction

_COLUMNS = ("id, business_id, agent_id, type, name, description, parameters, configuration, timeout_ms,"
            " max_response_bytes, voice_filler, signing_secret, is_active, created_at, updated_at")
_SPEC_COLUMNS = ("type", "name", "description", "parameters", "configuration", "timeout_ms", "max_response_bytes",
                 "voice_filler", "is_active")


def _action(row: asyncpg.Record) -> Action:
    return Action(**dict(row))


def _values(spec: ActionSpec) -> list[Any]:
    return [getattr(spec, name) for name in _SPEC_COLUMNS]


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


async def create(db: Executor, business_id: uuid.UUID, agent_id: uuid.UUID, spec: ActionSpec, *,
                 now: datetime.datetime) -> Action:
    """Add a (checked) action to the agent.

    Raises:
        TooManyActions: the agent has `MAX_ACTIONS_PER_AGENT` live actions.
        ActionNameTaken: a live action of the agent has the same name, in any case.
    """
    async with transaction(db) as conn:
        # The agent's row serialises concurrent creates, so the count can't be raced past the cap.
        await conn.execute("SELECT 1 FROM agents WHERE id = $1 FOR UPDATE", agent_id)
        live = await conn.fetchval("SELECT count(*) FROM actions WHERE agent_id = $1 AND deleted_at IS NULL",
                                   agent_id)
        if live >= MAX_ACTIONS_PER_AGENT:
            raise TooManyActions(f"an agent has at most {MAX_ACTIONS_PER_AGENT} actions")
        placeholders = ", ".join(f"${i}" for i in range(5, 5 + len(_SPEC_COLUMNS)))
        try:
            row = await conn.fetchrow(
                f"INSERT INTO actions (business_id, agent_id, signing_secret, created_at, {', '.join(_SPEC_COLUMNS)},"
                f" updated_at) VALUES ($1, $2, $3, $4, {placeholders}, $4) RETURNING {_COLUMNS}",
                business_id, agent_id, new_secret(), now, *_values(spec))
        except asyncpg.UniqueViolationError:
            raise ActionNameTaken(f"the agent already has an action named {spec.name!r}") from None
    assert row is not None
    return _action(row)


async def get(db: Executor, action_id: uuid.UUID) -> Action | None:
    """A live action by id, whoever owns it (the caller checks the business)."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM actions WHERE id = $1 AND deleted_at IS NULL", action_id)
    return None if row is None else _action(row)


async def of_agent(db: Executor, agent_id: uuid.UUID, *, active_only: bool = False) -> list[Action]:
    """The agent's live actions by name (only the active ones when asked): the tools' fixed order."""
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM actions WHERE agent_id = $1 AND deleted_at IS NULL"
                          " AND (is_active OR NOT $2) ORDER BY name, id", agent_id, active_only)
    return [_action(r) for r in rows]


async def replace(db: Executor, action_id: uuid.UUID, spec: ActionSpec, *, now: datetime.datetime) -> Action | None:
    """Save an edited (checked) spec over a live action; None when it is gone.

    Raises:
        ActionNameTaken: the new name is another live action's.
    """
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(_SPEC_COLUMNS, start=3))
    try:
        row = await db.fetchrow(f"UPDATE actions SET updated_at = $2, {sets} WHERE id = $1 AND deleted_at IS NULL"
                                f" RETURNING {_COLUMNS}", action_id, now, *_values(spec))
    except asyncpg.UniqueViolationError:
        raise ActionNameTaken(f"the agent already has an action named {spec.name!r}") from None
    return None if row is None else _action(row)


async def soft_delete(db: Executor, action_id: uuid.UUID, *, now: datetime.datetime) -> bool:
    """Delete a live action (True when it was live); its executions stay."""
    done = await db.fetchval("UPDATE actions SET deleted_at = $2, is_active = false WHERE id = $1"
                             " AND deleted_at IS NULL RETURNING true", action_id, now)
    return bool(done)
