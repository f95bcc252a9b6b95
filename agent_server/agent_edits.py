"""Editing an agent: each change a new immutable version, optimistic concurrency on its number, soft delete.

Every write of the configuration goes through :func:`save_config`, which locks the agent's row,
checks the version the editor started from (when they said one), writes the columns and the
`agent_versions` row in one transaction and bumps `agents.version`. Two dashboards editing at
once: without `If-Match` the last write wins (and both are in the history); with it, the later
one is refused and nothing is written.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable
from typing import Any

from agent_server import agents
from agent_server.agent_config import AgentConfig, config_from_json, config_json
from storage.executor import Executor
from storage.transactions import transaction


class VersionConflict(Exception):
    """The agent changed since the version the editor started from."""

    def __init__(self, current: int) -> None:
        super().__init__(f"the agent is at version {current}; reload it and apply the change again")
        self.current = current


class AgentInUse(Exception):
    """A live number still routes calls and texts to the agent."""

    def __init__(self, numbers: list[str]) -> None:
        super().__init__(f"numbers route to this agent: {', '.join(numbers)}; assign them another agent first")
        self.numbers = numbers


@dataclasses.dataclass(frozen=True)
class Version:
    version: int
    config: AgentConfig
    author_id: uuid.UUID | None
    created_at: datetime.datetime


async def save_config(db: Executor, agent_id: uuid.UUID, edit: Callable[[AgentConfig], AgentConfig], *,
                      author_id: uuid.UUID | None, expected_version: int | None = None) -> int | None:
    """Write `edit(current configuration)` as the agent's next version; returns its number (None: no such
    live agent). The edit applies to the row as locked, so a concurrent write's other fields are kept.

    Raises:
        VersionConflict: `expected_version` is given and is not the agent's current version.
    """
    async with transaction(db) as conn:
        current = await conn.fetchval(
            "SELECT version FROM agents WHERE id = $1 AND deleted_at IS NULL FOR UPDATE", agent_id)
        agent = await agents.get_agent(conn, agent_id) if current is not None else None
        if agent is None:
            return None
        if expected_version is not None and expected_version != current:
            raise VersionConflict(current)
        config = edit(agents.config_of(agent))
        stored = config_json(config)
        version: int = await conn.fetchval(
            "UPDATE agents SET name = $2, system_prompt = $3, greeting = $4, language = $5, model = $6,"
            " temperature = $7, voice = $8, faq = $9, transfer_number = $10, allowed_origins = $11, active = $12,"
            " channels = $13, handoff_tickets = $14, version = version + 1 WHERE id = $1 RETURNING version",
            agent_id, config.name, config.system_prompt, config.greeting, config.language, config.model,
            config.temperature, config.voice, stored["faq"], config.transfer_number, config.allowed_origins,
            config.active, stored["channels"], config.handoff_tickets)
        await conn.execute("INSERT INTO agent_versions (agent_id, version, config, author_id) VALUES ($1, $2, $3, $4)",
                           agent_id, version, stored, author_id)
    return version


def _version(row: Any) -> Version:
    return Version(row["version"], config_from_json(row["config"]), row["author_id"], row["created_at"])


async def versions_of(db: Executor, agent_id: uuid.UUID, limit: int) -> list[Version]:
    """The agent's versions, newest first."""
    rows = await db.fetch("SELECT version, config, author_id, created_at FROM agent_versions WHERE agent_id = $1"
                          " ORDER BY version DESC LIMIT $2", agent_id, limit)
    return [_version(r) for r in rows]


async def get_version(db: Executor, agent_id: uuid.UUID, version: int) -> Version | None:
    row = await db.fetchrow("SELECT version, config, author_id, created_at FROM agent_versions"
                            " WHERE agent_id = $1 AND version = $2", agent_id, version)
    return None if row is None else _version(row)


async def agent_at(db: Executor, agent_id: uuid.UUID, version: int | None) -> agents.Agent | None:
    """The live agent as its `version` configured it (a call admitted then runs with it, whatever is edited
    meanwhile); the agent as it is when `version` is None or was never written (an agent from before versions).
    None when the agent is gone."""
    agent = await agents.get_agent(db, agent_id)
    if agent is None or version is None or version == agent.version:
        return agent
    kept = await get_version(db, agent_id, version)
    return agent if kept is None else agents.with_config(agent, kept.config, version)


async def routed_numbers(db: Executor, agent_id: uuid.UUID) -> list[str]:
    """The live numbers whose calls and texts reach the agent: assigned to it, or unassigned numbers of its
    business that fall back to it (its first active agent, as `phone_numbers.registry.route_for` picks)."""
    rows = await db.fetch(
        "SELECT n.phone_number FROM business_numbers n WHERE n.status <> 'released' AND coalesce(n.agent_id,"
        " (SELECT a.id FROM agents a WHERE a.business_id = n.business_id AND a.active"
        "  ORDER BY a.created_at, a.id LIMIT 1)) = $1 ORDER BY n.phone_number", agent_id)
    return [r["phone_number"] for r in rows]


async def delete_agent(db: Executor, agent_id: uuid.UUID) -> bool:
    """Soft-delete the agent (kept for its calls' and conversations' history); False if already gone.

    Raises:
        AgentInUse: a live number still routes to it.
    """
    async with transaction(db) as conn:
        found = await conn.fetchval("SELECT true FROM agents WHERE id = $1 AND deleted_at IS NULL FOR UPDATE",
                                    agent_id)
        if found is None:
            return False
        numbers = await routed_numbers(conn, agent_id)
        if numbers:
            raise AgentInUse(numbers)
        # Inactive too, so nothing that picks "the first active agent" (unassigned numbers, the demo) finds it.
        await conn.execute("UPDATE agents SET deleted_at = now(), active = false WHERE id = $1", agent_id)
    return True
