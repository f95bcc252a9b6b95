"""Who of a business is emailed about what, and the emails themselves, queued in the outbox.

Preferences are per (user, business); without a row a member gets the defaults below. An
event's emails are queued in the transaction that records the event (a lead, an analysis),
each with a dedupe key naming the event and the recipient, so the event recorded again
(a retried job) queues nothing new. Values from conversations go to the templates, whose
HTML part escapes them.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Callable
from typing import Any, Literal

import structlog

from mail import outbox
from mail.message import check_address
from mail.rendering import render
from storage.executor import Executor

log = structlog.get_logger(__name__)

Event = Literal["conversation_started", "conversation_ended", "new_lead", "agent_error", "weekly_summary",
                "ticket_activity"]
EVENTS: tuple[Event, ...] = ("conversation_started", "conversation_ended", "new_lead", "agent_error",
                             "weekly_summary", "ticket_activity")


@dataclasses.dataclass(frozen=True)
class Preferences:
    conversation_started: bool = False
    conversation_ended: bool = False
    new_lead: bool = True
    agent_error: bool = True
    weekly_summary: bool = True
    # A support ticket opened, or a customer's reply on one (customers/ticket_mail.py).
    ticket_activity: bool = True
    # Where this member's emails for this business go instead of their sign-in address.
    override_address: str | None = None


DEFAULTS = Preferences()


async def preferences(db: Executor, user_id: uuid.UUID, business_id: uuid.UUID) -> Preferences:
    row = await db.fetchrow(
        "SELECT conversation_started, conversation_ended, new_lead, agent_error, weekly_summary, ticket_activity,"
        " override_address FROM notification_preferences WHERE user_id = $1 AND business_id = $2", user_id, business_id)
    return DEFAULTS if row is None else Preferences(**dict(row))


async def save_preferences(db: Executor, user_id: uuid.UUID, business_id: uuid.UUID, prefs: Preferences, *,
                           now: datetime.datetime) -> Preferences:
    """Store a member's preferences (the override address checked, no DNS).

    Raises:
        ValueError: the override address is not an email address.
    """
    address = check_address(prefs.override_address) if prefs.override_address else None
    prefs = dataclasses.replace(prefs, override_address=address)
    await db.execute(
        "INSERT INTO notification_preferences (user_id, business_id, conversation_started, conversation_ended,"
        " new_lead, agent_error, weekly_summary, override_address, updated_at, ticket_activity)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (user_id, business_id) DO UPDATE SET"
        " conversation_started = excluded.conversation_started, conversation_ended = excluded.conversation_ended,"
        " new_lead = excluded.new_lead, agent_error = excluded.agent_error,"
        " weekly_summary = excluded.weekly_summary, override_address = excluded.override_address,"
        " updated_at = excluded.updated_at, ticket_activity = excluded.ticket_activity",
        user_id, business_id, prefs.conversation_started, prefs.conversation_ended, prefs.new_lead,
        prefs.agent_error, prefs.weekly_summary, address, now, prefs.ticket_activity)
    return prefs


async def turn_off(db: Executor, user_id: uuid.UUID, business_id: uuid.UUID, event: Event, *,
                   now: datetime.datetime) -> bool:
    """Stop one kind of email for a member of a business; False when they are no longer a member."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    member = await db.fetchval("SELECT EXISTS (SELECT 1 FROM memberships WHERE user_id = $1 AND business_id = $2)",
                               user_id, business_id)
    if not member:
        return False
    current = await preferences(db, user_id, business_id)
    off: dict[str, Any] = {event: False}
    await save_preferences(db, user_id, business_id, dataclasses.replace(current, **off), now=now)
    return True


@dataclasses.dataclass(frozen=True)
class Recipient:
    user_id: uuid.UUID
    address: str


async def recipients(db: Executor, business_id: uuid.UUID, event: Event) -> list[Recipient]:
    """The members who want emails about `event`, at their override address or their own."""
    if event not in EVENTS:
        raise ValueError(f"unknown event {event!r}")
    default = getattr(DEFAULTS, event)
    rows = await db.fetch(
        f"SELECT u.id, coalesce(p.override_address, u.email) AS address FROM memberships m"
        f" JOIN users u ON u.id = m.user_id"
        f" LEFT JOIN notification_preferences p ON p.user_id = m.user_id AND p.business_id = m.business_id"
        f" WHERE m.business_id = $1 AND coalesce(p.{event}, $2) ORDER BY u.id", business_id, default)
    return [Recipient(r["id"], r["address"]) for r in rows]


async def business_name(db: Executor, business_id: uuid.UUID) -> str:
    name: str = await db.fetchval("SELECT name FROM businesses WHERE id = $1", business_id)
    return name


async def notify(db: Executor, business_id: uuid.UUID, event: Event, template: str, values: dict[str, Any], *,
                 event_key: str, now: datetime.datetime,
                 headers_for: Callable[[Recipient], dict[str, str]] | None = None) -> list[int]:
    """Queue `template` to every member who wants `event` (in the caller's transaction); the new outbox ids.

    `headers_for` gives each recipient's extra headers (their own unsubscribe link). An email
    that can't be written (a member's address or a value in a header is malformed) is logged
    and left out rather than raised: the event that caused it is recorded all the same.
    """
    people = await recipients(db, business_id, event)
    if not people:
        return []
    try:
        content = render(template, {"business_name": await business_name(db, business_id), **values})
    except ValueError as exc:
        log.error("notification_not_rendered", notification=event, business_id=str(business_id), error=str(exc))
        return []
    queued = []
    for person in people:
        try:
            outbox_id = await outbox.enqueue(db, content, recipient=person.address, business_id=business_id,
                                             now=now, dedupe_key=f"{event}:{event_key}:{person.user_id}",
                                             headers=headers_for(person) if headers_for else None)
        except ValueError as exc:
            log.error("notification_not_queued", notification=event, user_id=str(person.user_id), error=str(exc))
            continue
        if outbox_id is not None:
            queued.append(outbox_id)
    return queued
