"""The `webhook_endpoints` table: a business's receivers, their event filters and signing secrets.

Every read and write is scoped by business id, so another business's endpoint is simply not
found. A secret is `whsec_` + base64 of 32 random bytes (the Standard Webhooks form); it is
returned only by `create` and `rotate_secret`. After a rotation the previous secret keeps
signing beside the new one for `ROTATION_OVERLAP`, so receivers can switch without a gap.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime
import secrets
import uuid
from collections.abc import Sequence

import asyncpg

from storage.executor import Executor

SECRET_PREFIX = "whsec_"
ROTATION_OVERLAP = datetime.timedelta(hours=24)
COLUMNS = ("id, business_id, url, event_types, form_ids, enabled, disabled_reason, secret, previous_secret,"
            " previous_secret_until, created_at, updated_at")


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """An endpoint's row (the secrets stay here; the API never lists them)."""

    id: uuid.UUID
    business_id: uuid.UUID
    url: str
    event_types: tuple[str, ...]
    form_ids: tuple[uuid.UUID, ...]
    enabled: bool
    disabled_reason: str | None
    secret: str
    previous_secret: str | None
    previous_secret_until: datetime.datetime | None
    created_at: datetime.datetime
    updated_at: datetime.datetime

    def signing_secrets(self, now: datetime.datetime) -> tuple[str, ...]:
        """The secrets that sign at `now`: the current one, and the previous one while it overlaps."""
        if self.previous_secret and self.previous_secret_until and now < self.previous_secret_until:
            return (self.secret, self.previous_secret)
        return (self.secret,)


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def from_row(row: asyncpg.Record) -> Endpoint:
    values = dict(row)
    values["event_types"] = tuple(values["event_types"])
    values["form_ids"] = tuple(values["form_ids"])
    return Endpoint(**values)


async def create(db: Executor, business_id: uuid.UUID, *, url: str, event_types: Sequence[str],
                 form_ids: Sequence[uuid.UUID], enabled: bool, now: datetime.datetime) -> tuple[Endpoint, str]:
    """Add an endpoint with a fresh secret.

    Returns:
        The endpoint and its secret (to be shown once).
    """
    secret = new_secret()
    row = await db.fetchrow(
        "INSERT INTO webhook_endpoints (business_id, url, event_types, form_ids, enabled, secret, created_at,"
        f" updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7) RETURNING {COLUMNS}",
        business_id, url, list(event_types), list(form_ids), enabled, secret, now)
    assert row is not None
    return from_row(row), secret


async def get(db: Executor, endpoint_id: uuid.UUID, business_id: uuid.UUID) -> Endpoint | None:
    row = await db.fetchrow(f"SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1 AND business_id = $2",
                            endpoint_id, business_id)
    return None if row is None else from_row(row)


async def get_any(db: Executor, endpoint_id: uuid.UUID) -> Endpoint | None:
    """An endpoint by id alone: for the sender, which acts for whichever business queued the message."""
    row = await db.fetchrow(f"SELECT {COLUMNS} FROM webhook_endpoints WHERE id = $1", endpoint_id)
    return None if row is None else from_row(row)


async def list_for(db: Executor, business_id: uuid.UUID) -> list[Endpoint]:
    rows = await db.fetch(f"SELECT {COLUMNS} FROM webhook_endpoints WHERE business_id = $1"
                          " ORDER BY created_at, id", business_id)
    return [from_row(r) for r in rows]


async def update(db: Executor, endpoint_id: uuid.UUID, business_id: uuid.UUID, *, url: str | None,
                 event_types: Sequence[str] | None, form_ids: Sequence[uuid.UUID] | None, enabled: bool | None,
                 now: datetime.datetime) -> Endpoint | None:
    """Change the given fields (None keeps one); enabling again clears the reason we disabled it."""
    row = await db.fetchrow(
        "UPDATE webhook_endpoints SET url = coalesce($3, url), event_types = coalesce($4, event_types),"
        " form_ids = coalesce($5, form_ids), enabled = coalesce($6, enabled),"
        " disabled_reason = CASE WHEN $6 IS NULL THEN disabled_reason END, updated_at = $7"
        f" WHERE id = $1 AND business_id = $2 RETURNING {COLUMNS}",
        endpoint_id, business_id, url, None if event_types is None else list(event_types),
        None if form_ids is None else list(form_ids), enabled, now)
    return None if row is None else from_row(row)


async def delete(db: Executor, endpoint_id: uuid.UUID, business_id: uuid.UUID) -> bool:
    """Delete the endpoint with its messages and attempts (True when it existed)."""
    done = await db.fetchval("DELETE FROM webhook_endpoints WHERE id = $1 AND business_id = $2 RETURNING true",
                             endpoint_id, business_id)
    return bool(done)


async def rotate_secret(db: Executor, endpoint_id: uuid.UUID, business_id: uuid.UUID, *,
                        now: datetime.datetime) -> str | None:
    """Give the endpoint a new secret; the current one keeps signing for `ROTATION_OVERLAP`.

    Returns:
        The new secret, or None when the business has no such endpoint.
    """
    secret = new_secret()
    done = await db.fetchval(
        "UPDATE webhook_endpoints SET previous_secret = secret, previous_secret_until = $3, secret = $4,"
        " updated_at = $5 WHERE id = $1 AND business_id = $2 RETURNING true",
        endpoint_id, business_id, now + ROTATION_OVERLAP, secret, now)
    return secret if done else None


async def disable(db: Executor, endpoint_id: uuid.UUID, reason: str, *, now: datetime.datetime) -> None:
    """Turn an endpoint off on the receiver's word (410 Gone); a user enables it again by PATCH."""
    await db.execute("UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = $3"
                     " WHERE id = $1", endpoint_id, reason, now)
