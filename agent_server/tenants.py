"""Businesses, users and memberships: who may act where."""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from storage.executor import Executor


@dataclasses.dataclass(frozen=True)
class BusinessMembership:
    business_id: uuid.UUID
    name: str
    role: str


async def create_business(db: Executor, name: str) -> uuid.UUID:
    business_id: uuid.UUID = await db.fetchval("INSERT INTO businesses (name) VALUES ($1) RETURNING id", name)
    return business_id


async def create_user(db: Executor, email: str, user_id: uuid.UUID | None = None) -> uuid.UUID:
    """Create a user; `user_id` lets an existing Supabase user keep their id."""
    created: uuid.UUID = await db.fetchval(
        "INSERT INTO users (id, email) VALUES (coalesce($1, gen_random_uuid()), lower($2)) RETURNING id",
        user_id, email)
    return created


async def add_member(db: Executor, business_id: uuid.UUID, user_id: uuid.UUID, role: str = "member") -> None:
    await db.execute(
        "INSERT INTO memberships (business_id, user_id, role) VALUES ($1, $2, $3)"
        " ON CONFLICT (business_id, user_id) DO UPDATE SET role = EXCLUDED.role",
        business_id, user_id, role)


async def memberships_of(db: Executor, user_id: uuid.UUID) -> list[BusinessMembership]:
    rows = await db.fetch(
        "SELECT b.id, b.name, m.role FROM memberships m JOIN businesses b ON b.id = m.business_id"
        " WHERE m.user_id = $1 ORDER BY b.created_at, b.id", user_id)
    return [BusinessMembership(r["id"], r["name"], r["role"]) for r in rows]


async def role_in(db: Executor, business_id: uuid.UUID, user_id: uuid.UUID) -> str | None:
    role: str | None = await db.fetchval(
        "SELECT role FROM memberships WHERE business_id = $1 AND user_id = $2", business_id, user_id)
    return role


async def get_user_email(db: Executor, user_id: uuid.UUID) -> str | None:
    email: str | None = await db.fetchval("SELECT email FROM users WHERE id = $1", user_id)
    return email


@dataclasses.dataclass(frozen=True)
class Business:
    id: uuid.UUID
    name: str
    status: str
    created_at: datetime.datetime


async def get_business(db: Executor, business_id: uuid.UUID) -> Business | None:
    row = await db.fetchrow("SELECT id, name, status, created_at FROM businesses WHERE id = $1", business_id)
    return None if row is None else Business(row["id"], row["name"], row["status"], row["created_at"])


async def is_empty(db: Executor) -> bool:
    """True on a fresh database (used to seed the demo once)."""
    return not await db.fetchval("SELECT EXISTS (SELECT 1 FROM businesses)")
