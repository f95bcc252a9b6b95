"""A form submitted: one transaction writes the submission, its notification email and its webhook messages.

The submission keeps a snapshot of the form as it was, so a later edit never changes what an
old submission meant. The email goes through the mail outbox (autoescaped HTML; in the plain
text a value's line breaks are indented, so a value can't forge a line of its own); the
webhooks through the webhook outbox, as `form.submitted` with the original service's keys.
Either all of it commits or none of it.
"""

from __future__ import annotations

import dataclasses
import datetime
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import msgspec

from automations import webhook_outbox
from automations.form_model import Form, FormField
from mail import outbox
from mail.rendering import render
from storage.executor import Executor
from storage.transactions import transaction

Channel = Literal["widget", "sms", "whatsapp", "voice", "api"]
DEFAULT_SUCCESS_MESSAGE = "Thank you! We received your answers."
_LINE_BREAK = re.compile(r"\r\n|\r|\n|\u2028|\u2029")


@dataclasses.dataclass(frozen=True)
class Submission:
    id: uuid.UUID
    form_id: uuid.UUID
    conversation_id: uuid.UUID | None
    channel: str
    visitor_id: str | None
    data: dict[str, Any]
    terms_accepted: bool
    created_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Saved:
    submission: Submission
    email_queued: bool
    webhooks_queued: int


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def email_rows(fields: Sequence[FormField], data: Mapping[str, Any]) -> list[dict[str, str]]:
    """Each answered field as `{label, value, text}`: `text` with continuation lines indented (plain text)."""
    rows = []
    for field in fields:
        if field.id in data:
            value = _shown(data[field.id])
            rows.append({"label": field.label, "value": value, "text": _LINE_BREAK.sub("\n    ", value)})
    return rows


_COLUMNS = "id, form_id, conversation_id, channel, visitor_id, data, terms_accepted, created_at"


async def save(db: Executor, form: Form, data: Mapping[str, Any], *, channel: Channel,
               conversation_id: uuid.UUID | None, visitor_id: str | None, terms_accepted: bool,
               now: datetime.datetime, tool_key: str | None = None) -> Saved:
    """Store a checked submission with its email and webhooks, in one transaction (a savepoint in the caller's).

    `tool_key` (the model's `conversation:tool_call_id`) makes a repeated tool call one submission: the
    second finds the first's row and sends no email or webhook again.
    """
    snapshot = msgspec.to_builtins(form.spec())
    async with transaction(db) as conn:
        row = await conn.fetchrow(
            "INSERT INTO form_submissions (form_id, business_id, agent_id, conversation_id, channel, visitor_id,"
            " form_snapshot, data, terms_accepted, created_at, tool_key)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
            " ON CONFLICT (business_id, tool_key) WHERE tool_key IS NOT NULL DO NOTHING"
            f" RETURNING {_COLUMNS}",
            form.id, form.business_id, form.agent_id, conversation_id, channel, visitor_id, snapshot, dict(data),
            terms_accepted, now, tool_key)
        if row is None:
            earlier = await conn.fetchrow(f"SELECT {_COLUMNS} FROM form_submissions WHERE business_id = $1"
                                          " AND tool_key = $2", form.business_id, tool_key)
            assert earlier is not None
            return Saved(Submission(**dict(earlier)), False, 0)
        submission = Submission(**dict(row))
        emailed = await _notify(conn, form, submission) if form.notification_email else False
        queued = await webhook_outbox.enqueue(
            conn, business_id=form.business_id, event_type=webhook_outbox.FORM_SUBMITTED, form_id=form.id, now=now,
            data={"form_id": str(form.id), "form_name": form.name, "submission_id": str(submission.id),
                  "submitted_data": dict(data),
                  "conversation_id": None if conversation_id is None else str(conversation_id),
                  "agent_id": str(form.agent_id), "submitted_at": now.isoformat()})
    return Saved(submission, emailed, queued)


async def _notify(conn: Executor, form: Form, submission: Submission) -> bool:
    assert form.notification_email is not None
    title = form.title or form.name
    content = render("form_submission", {
        "subject": form.email_subject or f"New submission: {title}", "form_title": title,
        "channel": submission.channel, "submitted_at": submission.created_at.strftime("%Y-%m-%d %H:%M UTC"),
        "rows": email_rows(form.fields, submission.data), "submission_id": str(submission.id),
        "conversation_id": None if submission.conversation_id is None else str(submission.conversation_id)})
    outbox_id = await outbox.enqueue(conn, content, recipient=form.notification_email,
                                     dedupe_key=f"form-submission:{submission.id}", now=submission.created_at,
                                     business_id=form.business_id)
    return outbox_id is not None


async def page(db: Executor, form_id: uuid.UUID, *, limit: int,
               before: tuple[datetime.datetime, uuid.UUID] | None) -> list[Submission]:
    """A form's submissions newest first, after the keyset `before` (the last one of the previous page)."""
    rows = await db.fetch(
        "SELECT id, form_id, conversation_id, channel, visitor_id, data, terms_accepted, created_at"
        " FROM form_submissions WHERE form_id = $1 AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))"
        " ORDER BY created_at DESC, id DESC LIMIT $4",
        form_id, None if before is None else before[0], None if before is None else before[1], limit)
    return [Submission(**dict(r)) for r in rows]
