"""SQL for calls from a browser: the call row (`channel` web, no number) and its single-use admission token.

The token is never stored, only its SHA-256; it is used by one conditional UPDATE, so of two
sockets presenting it at once exactly one gets the call.
"""

from __future__ import annotations

import datetime
import hashlib
import uuid

from storage.executor import Executor

WEB = "web"
"""What a browser call has for its numbers: it comes from no phone and goes to none."""


def token_hash(token: str) -> bytes:
    """What is stored of a token: its SHA-256 (256 random bits need no salt or slow hash)."""
    return hashlib.sha256(token.encode()).digest()


async def record_web_call(db: Executor, *, call_sid: str, business_id: uuid.UUID, agent_id: uuid.UUID,
                          agent_version: int | None) -> uuid.UUID:
    """A browser call, ringing until its socket starts streaming."""
    call_id: uuid.UUID = await db.fetchval(
        "INSERT INTO calls (call_sid, business_id, agent_id, from_number, to_number, status, agent_version, channel)"
        " VALUES ($1, $2, $3, $4, $4, 'ringing', $5, 'web') RETURNING id",
        call_sid, business_id, agent_id, WEB, agent_version)
    return call_id


async def store_token(db: Executor, call_id: uuid.UUID, token: str, *, origin: str | None,
                      expires_at: datetime.datetime) -> None:
    """Keep the call's token (hashed), the origin it was granted to, and when it stops admitting."""
    await db.execute("INSERT INTO web_call_tokens (call_id, token_hash, origin, expires_at) VALUES ($1, $2, $3, $4)",
                     call_id, token_hash(token), origin, expires_at)


async def bound_origin(db: Executor, call_id: uuid.UUID) -> tuple[bool, str | None]:
    """Whether the call has a token, and the origin it is bound to (None: any, the dashboard's own call)."""
    row = await db.fetchrow("SELECT origin FROM web_call_tokens WHERE call_id = $1", call_id)
    return (False, None) if row is None else (True, row["origin"])


async def use_token(db: Executor, call_id: uuid.UUID, token: str) -> str | None:
    """Spend the token once: the call's sid, or None when it is wrong, used or expired."""
    sid: str | None = await db.fetchval(
        "UPDATE web_call_tokens t SET used_at = now() FROM calls c"
        " WHERE t.call_id = $1 AND c.id = t.call_id AND t.token_hash = $2 AND t.used_at IS NULL"
        " AND t.expires_at > now() RETURNING c.call_sid", call_id, token_hash(token))
    return sid
