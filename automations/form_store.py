"""The `forms` table: an agent's forms, created under a per-agent lock (the 20-form cap), edited, soft deleted.

A deleted form keeps its row (`deleted_at`) so its submissions keep their form; it is gone for
every read here, and its name (and tool name) is free again.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import asyncpg
import msgspec

from automations.form_errors import FormNameTaken, TooManyForms
from automations.form_model import MAX_FORMS_PER_AGENT, Form, FormField, FormSpec, slug_of
from storage.executor import Executor
from storage.transactions import transaction

_COLUMNS = ("id, business_id, agent_id, name, slug, title, description, fields, trigger_keywords, success_message,"
            " terms_and_conditions, require_terms_acceptance, notification_email, email_subject, webhook_url,"
            " is_active, webhook_endpoint_id, created_at, updated_at")
_SPEC_COLUMNS = ("name", "title", "description", "fields", "trigger_keywords", "success_message",
                 "terms_and_conditions", "require_terms_acceptance", "notification_email", "email_subject",
                 "webhook_url", "is_active")


def _form(row: asyncpg.Record) -> Form:
    values = dict(row)
    values["fields"] = msgspec.convert(values["fields"], list[FormField])
    values["trigger_keywords"] = list(values["trigger_keywords"])
    return Form(**values)


def _values(spec: FormSpec) -> list[Any]:
    """The spec's columns in `_SPEC_COLUMNS` order (fields as JSON the jsonb codec writes)."""
    return [msgspec.to_builtins(getattr(spec, name)) if name == "fields" else getattr(spec, name)
            for name in _SPEC_COLUMNS]


async def create(db: Executor, business_id: uuid.UUID, agent_id: uuid.UUID, spec: FormSpec, *,
                 now: datetime.datetime) -> Form:
    """Add a form to the agent (a checked spec).

    Raises:
        TooManyForms: the agent has `MAX_FORMS_PER_AGENT` live forms.
        FormNameTaken: a live form of the agent has the same slug.
    """
    async with transaction(db) as conn:
        # The agent's row serialises concurrent creates, so the count can't be raced past the cap.
        await conn.execute("SELECT 1 FROM agents WHERE id = $1 FOR UPDATE", agent_id)
        live = await conn.fetchval("SELECT count(*) FROM forms WHERE agent_id = $1 AND deleted_at IS NULL", agent_id)
        if live >= MAX_FORMS_PER_AGENT:
            raise TooManyForms(f"an agent has at most {MAX_FORMS_PER_AGENT} forms")
        placeholders = ", ".join(f"${i}" for i in range(5, 5 + len(_SPEC_COLUMNS)))
        try:
            row = await conn.fetchrow(
                f"INSERT INTO forms (business_id, agent_id, slug, created_at, {', '.join(_SPEC_COLUMNS)}, updated_at)"
                f" VALUES ($1, $2, $3, $4, {placeholders}, $4) RETURNING {_COLUMNS}",
                business_id, agent_id, slug_of(spec.name), now, *_values(spec))
        except asyncpg.UniqueViolationError:
            raise FormNameTaken(f"the agent already has a form named like {spec.name!r}") from None
    assert row is not None
    return _form(row)


async def get(db: Executor, form_id: uuid.UUID) -> Form | None:
    """A live form by id, whoever owns it (the caller checks the business)."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM forms WHERE id = $1 AND deleted_at IS NULL", form_id)
    return None if row is None else _form(row)


async def of_agent(db: Executor, agent_id: uuid.UUID, *, active_only: bool = False) -> list[Form]:
    """The agent's live forms, oldest first (only the active ones when asked)."""
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM forms WHERE agent_id = $1 AND deleted_at IS NULL"
                          " AND (is_active OR NOT $2) ORDER BY created_at, id", agent_id, active_only)
    return [_form(r) for r in rows]


async def replace(db: Executor, form_id: uuid.UUID, spec: FormSpec, *, now: datetime.datetime) -> Form | None:
    """Save an edited (checked) spec over a live form; None when it is gone.

    Raises:
        FormNameTaken: the new name reads like another live form's.
    """
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(_SPEC_COLUMNS, start=4))
    try:
        row = await db.fetchrow(
            f"UPDATE forms SET slug = $2, updated_at = $3, {sets} WHERE id = $1 AND deleted_at IS NULL"
            f" RETURNING {_COLUMNS}", form_id, slug_of(spec.name), now, *_values(spec))
    except asyncpg.UniqueViolationError:
        raise FormNameTaken(f"the agent already has a form named like {spec.name!r}") from None
    return None if row is None else _form(row)


async def link_endpoint(db: Executor, form_id: uuid.UUID, endpoint_id: uuid.UUID | None) -> None:
    """Remember which webhook endpoint the form's webhookUrl became (None: it has none)."""
    await db.execute("UPDATE forms SET webhook_endpoint_id = $2 WHERE id = $1", form_id, endpoint_id)


async def soft_delete(db: Executor, form_id: uuid.UUID, *, now: datetime.datetime) -> bool:
    """Delete a live form (True when it was live); its submissions stay."""
    done = await db.fetchval("UPDATE forms SET deleted_at = $2, is_active = false WHERE id = $1"
                             " AND deleted_at IS NULL RETURNING true", form_id, now)
    return bool(done)
