"""The `email_outbox` table: every email a row, queued in the caller's transaction, then sent by a job.

`enqueue` writes the row and its `mail.send` job in one transaction (a savepoint inside the
caller's), so an email exists exactly when the event that caused it committed. Its dedupe key
is unique for good: the same event enqueued twice is one email, whether the first was sent
or not.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Mapping
from typing import Literal

import asyncpg

from jobs import queue
from mail.message import check_address, check_header
from mail.rendering import Rendered
from storage.executor import Executor
from storage.transactions import transaction

SEND_KIND = "mail.send"
Status = Literal["queued", "sent", "failed", "held", "suppressed"]
STATUSES: tuple[Status, ...] = ("queued", "sent", "failed", "held", "suppressed")
_MAX_ERROR_CHARS = 2000


@dataclasses.dataclass(frozen=True)
class OutboxEmail:
    id: int
    business_id: uuid.UUID | None
    recipient: str
    subject: str
    text_body: str
    html_body: str | None
    template: str | None
    dedupe_key: str
    status: Status
    attempts: int
    last_error: str | None
    provider_message_id: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime
    sent_at: datetime.datetime | None
    # Extra headers of this one email (List-Unsubscribe), checked for line breaks when queued.
    headers: dict[str, str] = dataclasses.field(default_factory=dict)


_COLUMNS = ("id, business_id, recipient, subject, text_body, html_body, template, dedupe_key, status, attempts,"
            " last_error, provider_message_id, created_at, updated_at, sent_at, headers")


def _email(row: asyncpg.Record) -> OutboxEmail:
    return OutboxEmail(**dict(row))


async def enqueue(db: Executor, content: Rendered, *, recipient: str, dedupe_key: str, now: datetime.datetime,
                  business_id: uuid.UUID | None = None, headers: Mapping[str, str] | None = None) -> int | None:
    """Queue one email and the job that sends it, in the caller's transaction.

    Returns:
        The outbox id, or None when an email with this dedupe key already exists.

    Raises:
        ValueError: the recipient is not an email address, or the subject or a header holds a line break.
    """
    recipient = check_address(recipient)
    check_header("subject", content.subject)
    extra = {check_header("header name", name): check_header(name, value) for name, value in (headers or {}).items()}
    async with transaction(db) as conn:
        outbox_id: int | None = await conn.fetchval(
            "INSERT INTO email_outbox (business_id, recipient, subject, text_body, html_body, template, dedupe_key,"
            " created_at, updated_at, headers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)"
            " ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
            business_id, recipient, content.subject, content.text, content.html, content.template, dedupe_key, now,
            extra)
        if outbox_id is not None:
            await queue.enqueue(conn, SEND_KIND, {"outboxId": outbox_id}, now=now, business_id=business_id,
                                dedupe_key=f"email:{outbox_id}")
        return outbox_id


async def find(db: Executor, outbox_id: int) -> OutboxEmail | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM email_outbox WHERE id = $1", outbox_id)
    return None if row is None else _email(row)


async def mark_sent(db: Executor, outbox_id: int, provider_message_id: str, *, now: datetime.datetime) -> None:
    await db.execute(
        "UPDATE email_outbox SET status = 'sent', attempts = attempts + 1, provider_message_id = $2, sent_at = $3,"
        " updated_at = $3 WHERE id = $1 AND status = 'queued'", outbox_id, provider_message_id, now)


async def record_failure(db: Executor, outbox_id: int, error: str, *, now: datetime.datetime, final: bool) -> None:
    """Count a failed attempt; the email stays queued for the next one unless this was the last."""
    await db.execute(
        "UPDATE email_outbox SET attempts = attempts + 1, last_error = $2, updated_at = $3,"
        " status = CASE WHEN $4 THEN 'failed' ELSE status END WHERE id = $1 AND status = 'queued'",
        outbox_id, error[:_MAX_ERROR_CHARS], now, final)


async def hold(db: Executor, outbox_id: int, reason: str, *, now: datetime.datetime) -> None:
    await db.execute(
        "UPDATE email_outbox SET status = 'held', last_error = $2, updated_at = $3 WHERE id = $1 AND status = 'queued'",
        outbox_id, reason, now)


async def list_emails(db: Executor, *, status: Status | None = None, limit: int = 100,
                      business_id: uuid.UUID | None = None) -> list[OutboxEmail]:
    """Emails newest first, of one status or all (of one business's, when given)."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM email_outbox WHERE ($1::text IS NULL OR status = $1)"
        " AND ($3::uuid IS NULL OR business_id = $3)"
        " ORDER BY created_at DESC, id DESC LIMIT $2", status, limit, business_id)
    return [_email(r) for r in rows]
