"""The contacts table: a business's people to text, one live contact per E.164 phone, deleted softly."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from messaging import cursor
from messaging.errors import ContactExists, NotFound
from storage.executor import Executor

_COLUMNS = ("c.id, c.business_id, c.phone, c.first_name, c.last_name, c.email, c.tags, c.attributes, c.timezone,"
            " c.consent_source, c.consent_at, c.created_at, c.updated_at,"
            " EXISTS (SELECT 1 FROM suppressions s WHERE s.business_id = c.business_id AND s.phone = c.phone)"
            " AS opted_out")


@dataclasses.dataclass(frozen=True)
class Contact:
    id: uuid.UUID
    business_id: uuid.UUID
    phone: str
    first_name: str
    last_name: str
    email: str | None
    tags: list[str]
    attributes: dict[str, Any]
    timezone: str | None
    consent_source: str | None
    consent_at: datetime.datetime | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    opted_out: bool

    def fields(self) -> dict[str, str | None]:
        """The values a campaign template may name."""
        return {"firstName": self.first_name, "lastName": self.last_name, "email": self.email, "phone": self.phone}


@dataclasses.dataclass(frozen=True)
class NewContact:
    phone: str
    first_name: str = ""
    last_name: str = ""
    email: str | None = None
    tags: Sequence[str] = ()
    attributes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    timezone: str | None = None
    consent_source: str | None = None
    consent_at: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True)
class Filters:
    search: str | None = None
    tag: str | None = None
    list_id: uuid.UUID | None = None
    opted_out: bool | None = None


def _contact(row: asyncpg.Record) -> Contact:
    return Contact(row["id"], row["business_id"], row["phone"], row["first_name"], row["last_name"], row["email"],
                   list(row["tags"]), dict(row["attributes"]), row["timezone"], row["consent_source"],
                   row["consent_at"], row["created_at"], row["updated_at"], row["opted_out"])


def _tags(tags: Sequence[str]) -> list[str]:
    return sorted({t.strip() for t in tags if t.strip()})


async def create(db: Executor, business_id: uuid.UUID, new: NewContact) -> Contact:
    """Store a contact (phone already E.164).

    Raises:
        ContactExists: the business has a live contact with this phone.
    """
    try:
        contact_id = await db.fetchval(
            "INSERT INTO contacts (business_id, phone, first_name, last_name, email, tags, attributes, timezone,"
            " consent_source, consent_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id",
            business_id, new.phone, new.first_name, new.last_name, new.email, _tags(new.tags), dict(new.attributes),
            new.timezone, new.consent_source, new.consent_at)
    except asyncpg.UniqueViolationError:
        raise ContactExists(new.phone) from None
    return await get(db, business_id, contact_id)


async def get(db: Executor, business_id: uuid.UUID, contact_id: uuid.UUID) -> Contact:
    """A live contact of this business.

    Raises:
        NotFound: no such live contact here (another business's answers the same).
    """
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM contacts c WHERE c.id = $1 AND c.business_id = $2"
                            " AND c.deleted_at IS NULL", contact_id, business_id)
    if row is None:
        raise NotFound("contact not found")
    return _contact(row)


async def by_phone(db: Executor, business_id: uuid.UUID, phone: str) -> Contact | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM contacts c WHERE c.business_id = $1 AND c.phone = $2"
                            " AND c.deleted_at IS NULL", business_id, phone)
    return None if row is None else _contact(row)


_EDITABLE = {"first_name", "last_name", "email", "tags", "attributes", "timezone", "consent_source", "consent_at",
             "phone"}


async def update(db: Executor, business_id: uuid.UUID, contact_id: uuid.UUID, changes: Mapping[str, Any]) -> Contact:
    """Change some fields of a live contact (names as in `NewContact`).

    Raises:
        NotFound, ContactExists (a new phone another contact has).
    """
    unknown = set(changes) - _EDITABLE
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    values = {k: _tags(v) if k == "tags" else v for k, v in changes.items()}
    sets = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=3))
    try:
        found = await db.fetchval(
            f"UPDATE contacts SET {sets + ', ' if sets else ''}updated_at = now()"
            " WHERE id = $1 AND business_id = $2 AND deleted_at IS NULL RETURNING id",
            contact_id, business_id, *values.values())
    except asyncpg.UniqueViolationError:
        raise ContactExists(str(values.get("phone"))) from None
    if found is None:
        raise NotFound("contact not found")
    return await get(db, business_id, contact_id)


async def delete(db: Executor, business_id: uuid.UUID, contact_id: uuid.UUID) -> None:
    """Soft delete: the row stays for its messages and consent history; the phone may be added again."""
    found = await db.fetchval("UPDATE contacts SET deleted_at = now(), updated_at = now()"
                              " WHERE id = $1 AND business_id = $2 AND deleted_at IS NULL RETURNING id",
                              contact_id, business_id)
    if found is None:
        raise NotFound("contact not found")


async def page(db: Executor, business_id: uuid.UUID, filters: Filters, *, limit: int,
               after: str | None = None) -> tuple[list[Contact], str | None]:
    """One page of live contacts, newest first, and the cursor of the next page (None at the end).

    Raises:
        cursor.BadCursor: `after` is not one of ours.
    """
    where: list[str] = ["c.business_id = $1", "c.deleted_at IS NULL"]
    args: list[object] = [business_id]

    def arg(value: object) -> str:
        args.append(value)
        return f"${len(args)}"

    if filters.search:
        pattern = arg("%" + filters.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
        where.append(f"(c.first_name || ' ' || c.last_name ILIKE {pattern} OR c.phone LIKE {pattern}"
                     f" OR coalesce(c.email, '') ILIKE {pattern})")
    if filters.tag:
        where.append(f"c.tags @> ARRAY[{arg(filters.tag)}]::text[]")
    if filters.list_id is not None:
        where.append(f"EXISTS (SELECT 1 FROM contact_list_members m WHERE m.contact_id = c.id"
                     f" AND m.list_id = {arg(filters.list_id)})")
    if filters.opted_out is not None:
        where.append(("" if filters.opted_out else "NOT ") + "EXISTS (SELECT 1 FROM suppressions s"
                     " WHERE s.business_id = c.business_id AND s.phone = c.phone)")
    if after is not None:
        at, last_id = cursor.decode(after)
        where.append(f"(c.created_at, c.id) < ({arg(at)}, {arg(last_id)})")
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM contacts c WHERE {' AND '.join(where)}"
                          f" ORDER BY c.created_at DESC, c.id DESC LIMIT {arg(limit + 1)}", *args)
    found = [_contact(r) for r in rows[:limit]]
    more = len(rows) > limit
    return found, cursor.encode(found[-1].created_at, found[-1].id) if more and found else None


async def owner(db: Executor, contact_id: uuid.UUID) -> uuid.UUID | None:
    """The business of a live contact, so the shell can check the caller belongs to it."""
    found: uuid.UUID | None = await db.fetchval(
        "SELECT business_id FROM contacts WHERE id = $1 AND deleted_at IS NULL", contact_id)
    return found
