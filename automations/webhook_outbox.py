"""The webhook outbox: one message per subscribed endpoint, written in the caller's transaction with its send job.

A form submission (or any event) and the webhooks it causes commit together or not at all:
`enqueue` runs on the caller's connection, so a rolled-back submission leaves no message and
a committed one always has its delivery job. The body is serialized once here and stored as
bytes; every attempt signs and sends those exact bytes, so a retry is byte-identical.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec

from jobs import queue
from storage.executor import Executor
from storage.transactions import transaction

SEND_KIND = "automations.webhook_send"
# Every minute, endpoints with messages due for a while get a job again (`queue_stranded`).
SWEEP_KIND = "automations.webhook_sweep"
SWEEP_SCHEDULE = "* * * * *"
STRANDED_AFTER = datetime.timedelta(minutes=1)
FORM_SUBMITTED = "form.submitted"
TEST_EVENT = "webhook.test"
# The event types an endpoint may subscribe to (`webhook.test` is sent on request, to one endpoint).
EVENT_TYPES: tuple[str, ...] = (FORM_SUBMITTED,)


def message_header_id(message_id: uuid.UUID) -> str:
    """The `webhook-id` of a message: the same on every attempt, so receivers can drop replays."""
    return f"msg_{message_id.hex}"


def body_of(event_type: str, data: Mapping[str, Any], now: datetime.datetime) -> bytes:
    """`{"type", "timestamp", "data"}`, encoded once (UUIDs and datetimes as strings)."""
    stamp = now.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
    return msgspec.json.encode({"type": event_type, "timestamp": stamp, "data": dict(data)})


def _utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def queue_send(db: Executor, message_id: uuid.UUID, business_id: uuid.UUID, *, label: str,
                     run_at: datetime.datetime, now: datetime.datetime) -> None:
    """Queue the job for a message's retry at `run_at` (`label`: its attempt number, deduplicated).

    The job names a message but sends whatever of that endpoint is due first (`webhook_delivery`).
    """
    await queue.enqueue(db, SEND_KIND, {"messageId": str(message_id)}, now=now, run_at=run_at,
                        business_id=business_id, dedupe_key=f"webhook:{message_id}:{label}")


async def queue_drain(db: Executor, endpoint_id: uuid.UUID, business_id: uuid.UUID, *,
                      now: datetime.datetime) -> None:
    """Queue the job that sends an endpoint's due messages, unless one is already queued or running for it.

    One job per endpoint, not per message: a backlog, or a steady stream the job keeps up with,
    costs one job. The job opens its dedupe key (`jobs.queue.open_dedupe_key`) once it has
    nothing left to send and then looks once more, so a message committed after that queues the
    next one. A message whose transaction found the key still taken but committed only after
    that last look is picked up by the minutely `queue_stranded`.
    """
    await queue.enqueue(db, SEND_KIND, {"endpointId": str(endpoint_id)}, now=now, business_id=business_id,
                        dedupe_key=f"webhook:endpoint:{endpoint_id}")


async def enqueue(db: Executor, *, business_id: uuid.UUID, event_type: str, data: Mapping[str, Any],
                  form_id: uuid.UUID | None = None, now: datetime.datetime | None = None) -> int:
    """Queue `event_type` for every enabled endpoint of the business that subscribes to it.

    An endpoint matches when its event types include `event_type` and its form filter is empty
    or includes `form_id` (an endpoint filtered to forms never gets events without a form).

    Returns:
        How many messages were queued (0 when no endpoint subscribes).
    """
    now = now or _utc_now()
    body = body_of(event_type, data, now)
    async with transaction(db) as conn:
        rows = await conn.fetch(
            "INSERT INTO webhook_messages (business_id, endpoint_id, event_type, body, next_attempt_at,"
            " created_at, updated_at)"
            " SELECT business_id, id, $2, $4, $5, $5, $5 FROM webhook_endpoints"
            " WHERE business_id = $1 AND enabled AND $2 = ANY(event_types)"
            " AND (cardinality(form_ids) = 0 OR ($3::uuid IS NOT NULL AND $3 = ANY(form_ids)))"
            " RETURNING endpoint_id", business_id, event_type, form_id, body, now)
        for row in rows:
            await queue_drain(conn, row["endpoint_id"], business_id, now=now)
    return len(rows)


async def enqueue_to(db: Executor, endpoint_id: uuid.UUID, business_id: uuid.UUID, *, event_type: str,
                     data: Mapping[str, Any], now: datetime.datetime) -> uuid.UUID | None:
    """Queue one message for one endpoint of the business whatever it subscribes to (the test event).

    Returns:
        The message id, or None when the business has no such endpoint.
    """
    async with transaction(db) as conn:
        message_id: uuid.UUID | None = await conn.fetchval(
            "INSERT INTO webhook_messages (business_id, endpoint_id, event_type, body, next_attempt_at,"
            " created_at, updated_at)"
            " SELECT business_id, id, $3, $4, $5, $5, $5 FROM webhook_endpoints WHERE id = $1 AND business_id = $2"
            " RETURNING id", endpoint_id, business_id, event_type, body_of(event_type, data, now), now)
        if message_id is not None:
            await queue_drain(conn, endpoint_id, business_id, now=now)
        return message_id


async def queue_stranded(db: Executor, *, now: datetime.datetime) -> int:
    """Queue the drain job of every endpoint with a message due for over `STRANDED_AFTER` (deduplicated as usual).

    The one way a committed message can be left without a sender: its transaction queued no job
    because the endpoint's job was still open, and committed only after that job's last look.
    A message waiting for a slot (a slow endpoint's backlog) finds its endpoint's job still
    running, so this queues nothing for it.

    Returns:
        How many endpoints had such messages.
    """
    rows = await db.fetch("SELECT DISTINCT endpoint_id, business_id FROM webhook_messages"
                          " WHERE status = 'pending' AND next_attempt_at <= $1", now - STRANDED_AFTER)
    for row in rows:
        await queue_drain(db, row["endpoint_id"], row["business_id"], now=now)
    return len(rows)
