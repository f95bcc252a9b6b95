"""Agents (the dashboard's chatbots): the prompt, voice and FAQ that answer calls, SMS and chat.

`config_version` and `knowledge_version` are bumped by triggers (0073) whenever the prompt,
name, model, temperature, FAQ or language changes, or a knowledge source is published or
deleted: no writer, an agent-edit route included, has to remember to. The answer cache keys
on them (`cache_scope`), and `channels` (0012) moves `config_version` too.

A deleted agent (soft: `deleted_at`, 0012) is gone for every reader here: `get_agent` answers
None, so every route that loads an agent answers 404 for it.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import asyncpg

from agent_server.agent_config import AgentConfig, Channels, Effective, Faq, channels_from_json, config_json, resolve
from conversations.answer_cache import CacheScope
from storage.executor import Executor
from storage.transactions import transaction


@dataclasses.dataclass(frozen=True)
class FaqEntry:
    question: str
    answer: str


@dataclasses.dataclass(frozen=True)
class Agent:
    id: uuid.UUID
    business_id: uuid.UUID
    name: str
    system_prompt: str
    greeting: str
    voice: str
    language: str
    model: str
    temperature: float | None
    faq: tuple[FaqEntry, ...]
    transfer_number: str | None
    allowed_origins: tuple[str, ...]
    widget_theme: dict[str, Any]
    active: bool
    config_version: int
    knowledge_version: int
    answer_cache_enabled: bool
    answer_cache_ttl_seconds: int
    channels: Channels = dataclasses.field(default_factory=Channels)
    version: int = 0
    handoff_tickets: bool = True
    """The built-in `open_ticket` tool is offered (issue 25; 0122)."""


_COLUMNS = ("id, business_id, name, system_prompt, greeting, voice, language, model, temperature,"
            " faq, transfer_number, allowed_origins, widget_theme, active, config_version, knowledge_version,"
            " answer_cache_enabled, answer_cache_ttl_seconds, channels, version, handoff_tickets")


def parse_faq(raw: Any) -> tuple[FaqEntry, ...]:
    """FAQ entries from JSON (`[{"question": ..., "answer": ...}]`).

    Raises:
        ValueError: naming the entry that is malformed.
    """
    if not isinstance(raw, list):
        raise ValueError("FAQ must be a list of {question, answer} objects")
    entries = []
    for i, item in enumerate(raw):
        if not (isinstance(item, dict) and isinstance(item.get("question"), str)
                and isinstance(item.get("answer"), str) and item["question"].strip() and item["answer"].strip()):
            raise ValueError(f"FAQ entry {i} needs non-empty string fields question and answer")
        entries.append(FaqEntry(item["question"].strip(), item["answer"].strip()))
    return tuple(entries)


def _temperature(stored: float | None) -> float | None:
    """The column is a `real`: 0.3 reads back as 0.30000001192092896, shown and versioned as the 0.3 it was."""
    return None if stored is None else round(stored, 6)


def _agent(row: asyncpg.Record) -> Agent:
    return Agent(
        id=row["id"], business_id=row["business_id"], name=row["name"], system_prompt=row["system_prompt"],
        greeting=row["greeting"], voice=row["voice"], language=row["language"], model=row["model"],
        temperature=_temperature(row["temperature"]), faq=parse_faq(row["faq"]), transfer_number=row["transfer_number"],
        allowed_origins=tuple(row["allowed_origins"]), widget_theme=dict(row["widget_theme"]),
        active=row["active"], config_version=row["config_version"], knowledge_version=row["knowledge_version"],
        answer_cache_enabled=row["answer_cache_enabled"], answer_cache_ttl_seconds=row["answer_cache_ttl_seconds"],
        channels=channels_from_json(row["channels"]), version=row["version"], handoff_tickets=row["handoff_tickets"],
    )


def cache_scope(agent: Agent) -> CacheScope | None:
    """Which cached answers the agent may be served as loaded now; None when its cache is off."""
    if not agent.answer_cache_enabled:
        return None
    return CacheScope(agent.id, agent.config_version, agent.knowledge_version,
                      datetime.timedelta(seconds=agent.answer_cache_ttl_seconds))


def config_of(agent: Agent) -> AgentConfig:
    """What an edit can change of the agent, as one version keeps it."""
    return AgentConfig(
        name=agent.name, system_prompt=agent.system_prompt, greeting=agent.greeting, language=agent.language,
        model=agent.model, temperature=agent.temperature, voice=agent.voice,
        faq=[Faq(question=e.question, answer=e.answer) for e in agent.faq], transfer_number=agent.transfer_number,
        allowed_origins=list(agent.allowed_origins), active=agent.active, channels=agent.channels,
        handoff_tickets=agent.handoff_tickets)


def with_config(agent: Agent, config: AgentConfig, version: int) -> Agent:
    """The agent as `config` (one of its versions) sets it; what a version does not keep (the business, the
    knowledge and cache settings) stays as the agent is now."""
    return dataclasses.replace(
        agent, name=config.name, system_prompt=config.system_prompt, greeting=config.greeting,
        language=config.language, model=config.model, temperature=config.temperature, voice=config.voice,
        faq=tuple(FaqEntry(e.question, e.answer) for e in config.faq), transfer_number=config.transfer_number,
        allowed_origins=tuple(config.allowed_origins), active=config.active, channels=config.channels,
        handoff_tickets=config.handoff_tickets, version=version)


def effective(agent: Agent) -> Effective:
    """What each of the agent's channels uses (its overrides over the agent's own settings)."""
    return resolve(config_of(agent), agent.widget_theme)


def on_channel(agent: Agent, channel: Literal["voice", "sms", "whatsapp"]) -> Agent:
    """The agent as `channel` answers: its effective model, temperature, language and greeting (and voice on calls).

    Swapping them into the agent itself means every reader downstream, the answer cache's
    producer key included, sees the channel's values and nobody can read the agent's own by mistake.
    """
    settings = effective(agent)
    chosen = settings.voice if channel == "voice" else settings.sms if channel == "sms" else settings.whatsapp
    voice = settings.voice.voice if channel == "voice" else agent.voice
    return dataclasses.replace(agent, model=chosen.model, temperature=chosen.temperature, language=chosen.language,
                               greeting=chosen.greeting, voice=voice)


async def create_agent(db: Executor, business_id: uuid.UUID, name: str, *, system_prompt: str = "",
                       greeting: str = "", faq: Sequence[FaqEntry] = (), voice: str = "",
                       language: str = "en-US", transfer_number: str | None = None,
                       allowed_origins: Sequence[str] = (), model: str = "", temperature: float | None = None,
                       active: bool = True, channels: Channels | None = None,
                       author_id: uuid.UUID | None = None, handoff_tickets: bool = True) -> uuid.UUID:
    """A new agent with its first version (1) written beside it."""
    async with transaction(db) as conn:
        agent_id: uuid.UUID = await conn.fetchval(
            "INSERT INTO agents (business_id, name, system_prompt, greeting, faq, voice, language,"
            " transfer_number, allowed_origins, model, temperature, active, channels, handoff_tickets, version)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, 1) RETURNING id",
            business_id, name, system_prompt, greeting,
            [{"question": e.question, "answer": e.answer} for e in faq], voice, language,
            transfer_number, list(allowed_origins), model, temperature, active,
            {} if channels is None else config_json(AgentConfig(name=name, channels=channels))["channels"],
            handoff_tickets)
        agent = await get_agent(conn, agent_id)
        assert agent is not None
        await conn.execute("INSERT INTO agent_versions (agent_id, version, config, author_id) VALUES ($1, 1, $2, $3)",
                           agent_id, config_json(config_of(agent)), author_id)
    return agent_id


async def get_agent(db: Executor, agent_id: uuid.UUID) -> Agent | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM agents WHERE id = $1 AND deleted_at IS NULL", agent_id)
    return None if row is None else _agent(row)


async def agents_of(db: Executor, business_id: uuid.UUID) -> list[Agent]:
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM agents WHERE business_id = $1 AND deleted_at IS NULL"
                          " ORDER BY created_at, id",
                          business_id)
    return [_agent(r) for r in rows]
