"""Contact lists: named groups of a business's contacts (a campaign's audience names them)."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence

import asyncpg

from messaging.errors import NotFound
from storage.executor import Executor
from storage.transactions import transaction


@dataclasses.dataclass(frozen=True)
class ContactList:
    id: uuid.UUID
    name: str
    size: int
    created_at: datetime.datetime


class ListExists(Exception):
    """The business already has a list of this name."""


async def create(db: Executor, business_id: uuid.UUID, name: str) -> ContactList:
    try:
        row = await db.fetchrow("INSERT INTO contact_lists (business_id, name) VALUES ($1, $2)"
                                " RETURNING id, name, created_at", business_id, name)
    except asyncpg.UniqueViolationError:
        raise ListExists(f"a list named {name!r} already exists") from None
    assert row is not None
    return ContactList(row["id"], row["name"], 0, row["created_at"])


async def all_of(db: Executor, business_id: uuid.UUID) -> list[ContactList]:
    rows = await db.fetch(
        "SELECT l.id, l.name, l.created_at, (SELECT count(*) FROM contact_list_members m JOIN contacts c"
        " ON c.id = m.contact_id AND c.deleted_at IS NULL WHERE m.list_id = l.id) AS size"
        " FROM contact_lists l WHERE l.business_id = $1 ORDER BY l.name, l.id", business_id)
    return [ContactList(r["id"], r["name"], r["size"], r["created_at"]) for r in rows]


async def _require_list(db: Executor, business_id: uuid.UUID, list_id: uuid.UUID) -> None:
    if not await db.fetchval("SELECT EXISTS (SELECT 1 FROM contact_lists WHERE id = $1 AND business_id = $2)",
                             list_id, business_id):
        raise NotFound("list not found")


async def add_members(db: Executor, business_id: uuid.UUID, list_id: uuid.UUID,
                      contact_ids: Sequence[uuid.UUID]) -> int:
    """Add live contacts of this business to the list; returns how many were new members.

    Raises:
        NotFound: the list, or one of the contacts, is not this business's (nothing added).
    """
    async with transaction(db) as conn:
        await _require_list(conn, business_id, list_id)
        wanted = set(contact_ids)
        found = await conn.fetchval(
            "SELECT count(*) FROM contacts WHERE id = ANY($1::uuid[]) AND business_id = $2 AND deleted_at IS NULL",
            list(wanted), business_id)
        if found != len(wanted):
            raise NotFound("contact not found")
        added: int = await conn.fetchval(
            "WITH a AS (INSERT INTO contact_list_members (list_id, contact_id) SELECT $1, unnest($2::uuid[])"
            " ON CONFLICT DO NOTHING RETURNING 1) SELECT count(*) FROM a", list_id, list(wanted))
        return added


async def remove_member(db: Executor, business_id: uuid.UUID, list_id: uuid.UUID, contact_id: uuid.UUID) -> None:
    """Raises NotFound: the list is not this business's, or the contact is not in it."""
    async with transaction(db) as conn:
        await _require_list(conn, business_id, list_id)
        removed = await conn.fetchval("DELETE FROM contact_list_members WHERE list_id = $1 AND contact_id = $2"
                                      " RETURNING 1", list_id, contact_id)
        if removed is None:
            raise NotFound("contact not in list")


async def owner(db: Executor, list_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await db.fetchval("SELECT business_id FROM contact_lists WHERE id = $1", list_id)
    return found
