"""Agents (the dashboard's chatbots): the prompt, voice and FAQ that answer calls, SMS and chat.

`config_version` and `knowledge_version` are bumped by triggers (0073) whenever the prompt,
name, model, temperature, FAQ or language changes, or a knowledge source is published or
deleted: no writer, an agent-edit route included, has to remember to. The answer cache keys
on them (`cache_scope`).
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from conversations.answer_cache import CacheScope
from storage.executor import Executor


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


_COLUMNS = ("id, business_id, name, system_prompt, greeting, voice, language, model, temperature,"
            " faq, transfer_number, allowed_origins, widget_theme, active, config_version, knowledge_version,"
            " answer_cache_enabled, answer_cache_ttl_seconds")


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


def _agent(row: asyncpg.Record) -> Agent:
    return Agent(
        id=row["id"], business_id=row["business_id"], name=row["name"], system_prompt=row["system_prompt"],
        greeting=row["greeting"], voice=row["voice"], language=row["language"], model=row["model"],
        temperature=row["temperature"], faq=parse_faq(row["faq"]), transfer_number=row["transfer_number"],
        allowed_origins=tuple(row["allowed_origins"]), widget_theme=dict(row["widget_theme"]),
        active=row["active"], config_version=row["config_version"], knowledge_version=row["knowledge_version"],
        answer_cache_enabled=row["answer_cache_enabled"], answer_cache_ttl_seconds=row["answer_cache_ttl_seconds"],
    )


def cache_scope(agent: Agent) -> CacheScope | None:
    """Which cached answers the agent may be served as loaded now; None when its cache is off."""
    if not agent.answer_cache_enabled:
        return None
    return CacheScope(agent.id, agent.config_version, agent.knowledge_version,
                      datetime.timedelta(seconds=agent.answer_cache_ttl_seconds))


async def create_agent(db: Executor, business_id: uuid.UUID, name: str, *, system_prompt: str = "",
                       greeting: str = "", faq: Sequence[FaqEntry] = (), voice: str = "",
                       language: str = "en-US", transfer_number: str | None = None,
                       allowed_origins: Sequence[str] = ()) -> uuid.UUID:
    agent_id: uuid.UUID = await db.fetchval(
        "INSERT INTO agents (business_id, name, system_prompt, greeting, faq, voice, language,"
        " transfer_number, allowed_origins) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        business_id, name, system_prompt, greeting,
        [{"question": e.question, "answer": e.answer} for e in faq], voice, language,
        transfer_number, list(allowed_origins))
    return agent_id


async def get_agent(db: Executor, agent_id: uuid.UUID) -> Agent | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM agents WHERE id = $1", agent_id)
    return None if row is None else _agent(row)


async def agents_of(db: Executor, business_id: uuid.UUID) -> list[Agent]:
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM agents WHERE business_id = $1 ORDER BY created_at, id",
                          business_id)
    return [_agent(r) for r in rows]
