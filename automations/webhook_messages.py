"""The `webhook_messages` and `webhook_attempts` tables: claiming the next send, recording its outcome, listings.

At most `max_in_flight` messages of one endpoint are being sent at any time, across every
worker process: a claim takes the endpoint's row lock (`FOR NO KEY UPDATE`, which does not
block the submissions inserting messages for it), counts the messages still in flight and
only then marks the oldest due one `sending`. A `sending` message's `next_attempt_at` is the
end of its sender's lease, so a message whose worker died is simply due again later. A sender
that already holds slots trades finished sends for due messages in one statement without the
lock (`deliver_and_claim`): a trade never raises the count, so one round trip a batch is enough.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from typing import Literal

import asyncpg

from automations.webhook_endpoints import COLUMNS as ENDPOINT_COLUMNS
from automations.webhook_endpoints import Endpoint, from_row
from automations.webhook_outbox import queue_send
from storage.executor import Executor
from storage.transactions import transaction

Outcome = Literal["delivered", "retry", "failed", "disabled"]
_MAX_ERROR_CHARS = 500
_MESSAGE_COLUMNS = ("id, business_id, endpoint_id, event_type, body, status, attempts, next_attempt_at,"
                    " last_status, last_error, created_at, updated_at, delivered_at")
# Logs the attempt and moves the message, fenced on the claimed attempt; true when the message moved.
_RECORD = (
    "WITH moved AS (UPDATE webhook_messages SET status = $3, next_attempt_at = coalesce($4, next_attempt_at),"
    " last_status = $5, last_error = $6, updated_at = $7,"
    " delivered_at = CASE WHEN $3 = 'delivered' THEN $7::timestamptz END"
    " WHERE id = $1 AND attempts = $2 AND status = 'sending' RETURNING true),"
    " logged AS (INSERT INTO webhook_attempts (message_id, attempt, started_at, duration_ms, status_code,"
    " error, outcome) VALUES ($1, $2, $8, $9, $5, $6, $10))"
    " SELECT EXISTS (SELECT FROM moved)")


@dataclasses.dataclass(frozen=True)
class Message:
    id: uuid.UUID
    business_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_type: str
    body: bytes
    status: str
    attempts: int
    next_attempt_at: datetime.datetime
    last_status: int | None
    last_error: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    delivered_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class Attempt:
    attempt: int
    started_at: datetime.datetime
    duration_ms: int
    status_code: int | None
    error: str | None
    outcome: Outcome


@dataclasses.dataclass(frozen=True)
class Claimed:
    """A message this sender now holds, with its endpoint as it was when claimed."""

    message: Message
    endpoint: Endpoint


@dataclasses.dataclass(frozen=True)
class Result:
    """What one attempt came to: the receiver's status (None when no answer came), why it failed, its Retry-After."""

    status_code: int | None
    error: str | None
    duration_ms: int
    retry_after: str | None = None


@dataclasses.dataclass(frozen=True)
class Traded:
    """What `deliver_and_claim` took, and whether that was all there was to take."""

    claimed: list[Claimed]
    # Fewer due messages than free slots, the endpoint enabled: nothing to look for under the lock.
    exhausted: bool


@dataclasses.dataclass(frozen=True)
class Delivery:
    """A claimed message the receiver answered with a 2xx, to be recorded with others in one statement."""

    message: Message
    result: Result
    started: datetime.datetime


_MESSAGE_FIELDS = tuple(field.name for field in dataclasses.fields(Message))
# Marks a sender's deliveries delivered (fenced on their claimed attempt), logs their attempts and
# takes as many of the endpoint's due messages as it freed slots, plus $10 slots freed before.
_DELIVER_AND_CLAIM = (
    "WITH done AS (SELECT * FROM unnest($1::uuid[], $2::int[], $3::int[], $4::text[], $5::timestamptz[],"
    " $6::int[]) AS d(id, attempt, status_code, error, started_at, duration_ms)),"
    " moved AS (UPDATE webhook_messages m SET status = 'delivered', last_status = d.status_code,"
    " last_error = d.error, updated_at = $8, delivered_at = $8 FROM done d"
    " WHERE m.id = ANY($1::uuid[]) AND m.id = d.id AND m.attempts = d.attempt AND m.status = 'sending'"
    " RETURNING m.id),"
    " logged AS (INSERT INTO webhook_attempts (message_id, attempt, started_at, duration_ms, status_code, error,"
    " outcome) SELECT id, attempt, started_at, duration_ms, status_code, error, 'delivered' FROM done),"
    " picked AS (UPDATE webhook_messages SET status = 'sending', attempts = attempts + 1, next_attempt_at = $9,"
    " updated_at = $8 WHERE id = ANY(ARRAY(SELECT id FROM webhook_messages WHERE endpoint_id = $7"
    " AND status IN ('pending', 'sending') AND next_attempt_at <= $8 AND id <> ALL($1::uuid[])"
    " AND EXISTS (SELECT FROM webhook_endpoints WHERE id = $7 AND enabled)"
    " ORDER BY next_attempt_at, created_at LIMIT (SELECT count(*) FROM moved) + $10 FOR UPDATE SKIP LOCKED))"
    f" RETURNING {_MESSAGE_COLUMNS})"
    " SELECT p.*, e.enabled AS endpoint_enabled, (SELECT count(*) FROM moved) + $10 AS allowed,"
    " e.url AS endpoint_url, e.secret AS endpoint_secret, e.previous_secret AS endpoint_previous,"
    " e.previous_secret_until AS endpoint_previous_until FROM webhook_endpoints e LEFT JOIN picked p ON true"
    " WHERE e.id = $7 ORDER BY p.created_at")


def _message(row: asyncpg.Record) -> Message:
    return Message(**dict(row))


async def due_endpoint(db: Executor, message_id: uuid.UUID, *, now: datetime.datetime,
                       max_in_flight: int) -> uuid.UUID | None:
    """The message's endpoint when the message is due and the endpoint has room for another send.

    Read without a lock, so a backlog's jobs cost one query each while the endpoint is full.
    That is safe: every send counted here is followed by its sender's next claim, which sees
    this message (committed before its job could run) and takes it.
    """
    row = await db.fetchrow(
        "SELECT m.endpoint_id, (SELECT count(*) FROM webhook_messages s WHERE s.endpoint_id = m.endpoint_id"
        " AND s.status = 'sending' AND s.next_attempt_at > $2) AS in_flight FROM webhook_messages m"
        " WHERE m.id = $1 AND m.status IN ('pending', 'sending') AND m.next_attempt_at <= $2", message_id, now)
    if row is None or row["in_flight"] >= max_in_flight:
        return None
    found: uuid.UUID = row["endpoint_id"]
    return found


async def claim(db: Executor, endpoint_id: uuid.UUID, *, now: datetime.datetime, lease: datetime.timedelta,
                max_in_flight: int) -> list[Claimed]:
    """Take the endpoint's oldest due messages, as many as keep it within `max_in_flight` sends.

    A disabled endpoint's due messages are failed instead (its user turned it off, or it answered 410).

    Returns:
        The claimed messages (each attempt counted), oldest first; empty: nothing due, or no room.
    """
    async with transaction(db) as conn:
        row = await conn.fetchrow(f"SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1"
                                  " FOR NO KEY UPDATE", endpoint_id)
        if row is None:
            return []
        endpoint = from_row(row)
        if not endpoint.enabled:
            await conn.execute(
                "UPDATE webhook_messages SET status = 'failed', last_error = 'the endpoint is disabled',"
                " updated_at = $2 WHERE endpoint_id = $1 AND status IN ('pending', 'sending')"
                " AND next_attempt_at <= $2", endpoint_id, now)
            return []
        # The row lock is held, so this statement's fresh snapshot counts every send still open. `= ANY(ARRAY(...))`
        # keeps the plan on the primary key: with `IN (... LIMIT $4 ...)` a generic plan hash-joins a scan of
        # the whole table (the backlog), its LIMIT being unknown.
        picked = await conn.fetch(
            "UPDATE webhook_messages SET status = 'sending', attempts = attempts + 1, next_attempt_at = $3,"
            " updated_at = $2 WHERE id = ANY(ARRAY(SELECT id FROM webhook_messages WHERE endpoint_id = $1"
            " AND status IN ('pending', 'sending') AND next_attempt_at <= $2 ORDER BY next_attempt_at, created_at"
            " LIMIT greatest(0, $4 - (SELECT count(*) FROM webhook_messages WHERE endpoint_id = $1"
            " AND status = 'sending' AND next_attempt_at > $2)) FOR UPDATE SKIP LOCKED))"
            f" RETURNING {_MESSAGE_COLUMNS}", endpoint_id, now, now + lease, max_in_flight)
        ordered = sorted(picked, key=lambda r: r["created_at"])
        return [Claimed(_message(r), endpoint) for r in ordered]


async def record(db: Executor, claimed: Claimed, result: Result, outcome: Outcome, *, started: datetime.datetime,
                 now: datetime.datetime, next_attempt: datetime.datetime | None = None) -> bool:
    """Write the attempt and move the message on: delivered, failed, or pending with its next attempt queued.

    Fenced on the claimed attempt: when the lease ran out and another sender took the message,
    this sender's late result changes nothing (the attempt is still logged).

    Returns:
        False when the claim had been lost.
    """
    message = claimed.message
    error = None if result.error is None else result.error[:_MAX_ERROR_CHARS]
    status = {"delivered": "delivered", "retry": "pending", "failed": "failed", "disabled": "failed"}[outcome]
    args = (message.id, message.attempts, status, next_attempt, result.status_code, error, now, started,
            result.duration_ms, outcome)
    if next_attempt is None and outcome != "disabled":
        return bool(await db.fetchval(_RECORD, *args))  # one statement: no transaction to open
    async with transaction(db) as conn:
        moved = await conn.fetchval(_RECORD, *args)
        if moved and next_attempt is not None:
            await queue_send(conn, message.id, message.business_id, label=str(message.attempts + 1),
                             run_at=next_attempt, now=now)
        if moved and outcome == "disabled":
            await conn.execute("UPDATE webhook_endpoints SET enabled = false, disabled_reason = $2, updated_at = $3"
                               " WHERE id = $1", claimed.endpoint.id, "the receiver answered 410 Gone", now)
        return bool(moved)


async def deliver_and_claim(db: Executor, endpoint: Endpoint, delivered: Sequence[Delivery], *, freed: int,
                            now: datetime.datetime, lease: datetime.timedelta) -> Traded:
    """Record a sender's deliveries and take the endpoint's next due messages in their place: one statement.

    The sender's sends move from `sending` to `delivered` and as many due messages move to
    `sending` in the same commit, so the endpoint's count of sends in flight never grows and no
    lock on the endpoint is needed (`claim` takes it to grow the count). `freed`: slots the
    sender freed since its last claim that are not among `delivered` (failures, recorded one by
    one by `record`, since a retry also queues its job). A delivery whose claim was lost (its
    lease ran out and another sender took the message) is logged but frees no slot here. A
    disabled endpoint gets nothing claimed; the sender's last `claim` fails its messages.

    Returns:
        The claimed messages, oldest first, each with the endpoint as it is now (a rotated secret
        or a changed URL is used from the next send on); exhausted when the endpoint is enabled
        and had fewer due messages than the slots (a deleted endpoint: nothing to claim, ever).
    """
    rows = await db.fetch(
        _DELIVER_AND_CLAIM, [d.message.id for d in delivered], [d.message.attempts for d in delivered],
        [d.result.status_code for d in delivered],
        [None if d.result.error is None else d.result.error[:_MAX_ERROR_CHARS] for d in delivered],
        [d.started for d in delivered], [d.result.duration_ms for d in delivered], endpoint.id, now, now + lease,
        freed)
    if not rows:
        return Traded([], exhausted=True)
    first = rows[0]
    picked = [row for row in rows if row["id"] is not None]
    current = (first["endpoint_url"], first["endpoint_secret"], first["endpoint_previous"],
               first["endpoint_previous_until"])
    if current != (endpoint.url, endpoint.secret, endpoint.previous_secret, endpoint.previous_secret_until):
        endpoint = dataclasses.replace(endpoint, url=current[0], secret=current[1], previous_secret=current[2],
                                       previous_secret_until=current[3])
    return Traded([Claimed(Message(**{name: row[name] for name in _MESSAGE_FIELDS}), endpoint) for row in picked],
                  exhausted=first["endpoint_enabled"] and len(picked) < first["allowed"])


async def get(db: Executor, message_id: uuid.UUID, business_id: uuid.UUID) -> Message | None:
    row = await db.fetchrow(f"SELECT {_MESSAGE_COLUMNS} FROM webhook_messages WHERE id = $1 AND business_id = $2",
                            message_id, business_id)
    return None if row is None else _message(row)


async def list_for_endpoint(db: Executor, endpoint_id: uuid.UUID, *, limit: int,
                            status: str | None = None) -> list[Message]:
    rows = await db.fetch(f"SELECT {_MESSAGE_COLUMNS} FROM webhook_messages WHERE endpoint_id = $1"
                          " AND ($3::text IS NULL OR status = $3) ORDER BY created_at DESC, id LIMIT $2",
                          endpoint_id, limit, status)
    return [_message(r) for r in rows]


async def attempts_of(db: Executor, message_id: uuid.UUID) -> list[Attempt]:
    rows = await db.fetch("SELECT attempt, started_at, duration_ms, status_code, error, outcome"
                          " FROM webhook_attempts WHERE message_id = $1 ORDER BY id", message_id)
    return [Attempt(**dict(r)) for r in rows]


async def retry(db: Executor, message_id: uuid.UUID, business_id: uuid.UUID, *,
                now: datetime.datetime) -> Message | None:
    """Send a message again now (a delivered or failed one too: the receiver asked for it).

    A message already being sent is left alone, as is one whose endpoint is disabled (it would
    only fail again); the caller sees its current state.

    Returns:
        The message, or None when the business has no such message.
    """
    async with transaction(db) as conn:
        moved = await conn.fetchval(
            "UPDATE webhook_messages m SET status = 'pending', next_attempt_at = $3, updated_at = $3"
            " FROM webhook_endpoints e WHERE m.id = $1 AND m.business_id = $2 AND e.id = m.endpoint_id"
            " AND e.enabled AND m.status <> 'sending' RETURNING true", message_id, business_id, now)
        if moved:
            await queue_send(conn, message_id, business_id, label=f"manual@{now.isoformat()}", run_at=now, now=now)
    return await get(db, message_id, business_id)
