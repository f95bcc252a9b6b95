"""A ticket's emails, queued in the outbox in the transaction that records the ticket or the message.

Threading: an email carries the Message-ID stored with its ticket or message (one for every
recipient and every retry), and a reply names the ticket's opening Message-ID in `In-Reply-To`
and `References`, so mail clients show one thread; subjects start `[T-1001]`.

Who gets what: a new ticket and a customer's reply go to the business's members who want
`ticket_activity` emails (outcomes' preferences; the member who opened it from the dashboard
is left out); a staff or AI reply goes to the requester's address, with `Reply-To` the
ticket's own reply address when inbound mail is on (`customers.reply_addresses`), else the
business's support address or, without one, its owners. Without a requester address nothing
is mailed (an SMS or call handoff without an email). Values reach the templates as given: the
HTML part escapes them.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import structlog

from customers.reply_addresses import ReplyAddresses
from customers.ticket_model import Ticket, TicketMessage
from mail import outbox
from mail.rendering import Rendered, render
from outcomes import notifications
from storage.executor import Connection

log = structlog.get_logger(__name__)

EVENT: notifications.Event = "ticket_activity"


def _values(ticket: Ticket, business_name: str) -> dict[str, Any]:
    return {"business_name": business_name, "reference": ticket.reference, "subject": ticket.subject,
            "description": ticket.description, "status": ticket.status, "priority": ticket.priority,
            "source": ticket.source, "requester_name": ticket.requester_name,
            "requester_email": ticket.requester_email, "requester_phone": ticket.requester_phone}


def _reply_headers(ticket: Ticket, message: TicketMessage) -> dict[str, str]:
    return {"Message-ID": message.message_id, "In-Reply-To": ticket.message_id, "References": ticket.message_id}


async def reply_to_address(conn: Connection, business_id: uuid.UUID) -> str | None:
    """The business's support address, else its owners' addresses (None: a business without either)."""
    support: str | None = await conn.fetchval("SELECT support_email FROM businesses WHERE id = $1", business_id)
    if support:
        return support
    owners = await conn.fetch("SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id"
                              " WHERE m.business_id = $1 AND m.role = 'owner' ORDER BY m.created_at, u.email",
                              business_id)
    return ", ".join(r["email"] for r in owners) or None


async def _to_business(conn: Connection, ticket: Ticket, template: str, values: dict[str, Any],
                       headers: dict[str, str], *, key: str, now: datetime.datetime,
                       exclude_user: uuid.UUID | None = None) -> list[int]:
    people = [p for p in await notifications.recipients(conn, ticket.business_id, EVENT)
              if p.user_id != exclude_user]
    if not people:
        return []
    content = render(template, {**_values(ticket, await notifications.business_name(conn, ticket.business_id)),
                                **values})
    queued = []
    for person in people:
        try:
            outbox_id = await outbox.enqueue(conn, content, recipient=person.address, business_id=ticket.business_id,
                                             now=now, dedupe_key=f"{EVENT}:{key}:{person.user_id}", headers=headers)
        except ValueError as exc:
            log.error("ticket_email_not_queued", ticket=ticket.reference, user_id=str(person.user_id), error=str(exc))
            continue
        if outbox_id is not None:
            queued.append(outbox_id)
    return queued


async def ticket_opened(conn: Connection, ticket: Ticket, *, now: datetime.datetime,
                        exclude_user: uuid.UUID | None = None) -> list[int]:
    """Tell the business about a new ticket; the new outbox ids."""
    return await _to_business(conn, ticket, "ticket_opened", {}, {"Message-ID": ticket.message_id},
                              key=f"{ticket.id}:opened", now=now, exclude_user=exclude_user)


async def message_to_business(conn: Connection, ticket: Ticket, message: TicketMessage, *,
                              now: datetime.datetime) -> list[int]:
    """Tell the business about a customer's reply; the new outbox ids."""
    return await _to_business(conn, ticket, "ticket_message", {"content": message.content},
                              _reply_headers(ticket, message), key=str(message.id), now=now)


async def reply_to_requester(conn: Connection, ticket: Ticket, message: TicketMessage, *,
                             now: datetime.datetime, inbound: ReplyAddresses | None = None) -> int | None:
    """Mail a staff (or AI) reply to the requester; the outbox id (None: no address, or already queued).

    `inbound` (inbound mail on): the requester answers to the ticket's own reply address.
    """
    if not ticket.requester_email:
        return None
    headers = _reply_headers(ticket, message)
    reply_to = inbound.for_ticket(ticket.id) if inbound else await reply_to_address(conn, ticket.business_id)
    if reply_to:
        headers["Reply-To"] = reply_to
    content: Rendered = render("ticket_reply", {
        **_values(ticket, await notifications.business_name(conn, ticket.business_id)), "content": message.content})
    try:
        return await outbox.enqueue(conn, content, recipient=ticket.requester_email, business_id=ticket.business_id,
                                    now=now, dedupe_key=f"ticket_reply:{message.id}", headers=headers)
    except ValueError as exc:
        log.error("ticket_email_not_queued", ticket=ticket.reference, error=str(exc))
        return None
