"""Support tickets: numbered per business (T-1001, ...), their threads, and how replies and staff move them.

The lifecycle, where the issue is silent chosen as a help desk behaves:

- a new ticket is `open`; the first staff reply on an `open` ticket makes it `in_progress`;
- a customer's reply reopens a `resolved` ticket (`open` again);
- staff may set any status; `closed` is final: no replies, no changes (`TicketClosed`, a 409),
  the person opens a new ticket instead;
- a `resolved` ticket quiet for `QUIET_DAYS` (no message, no change) is closed by a job
  (`ticket_closing`).

Each opening and message queues its emails (`ticket_mail`) in the same transaction, so an
email exists exactly when the ticket or message does.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

import asyncpg

from customers import ticket_mail
from customers.reply_addresses import ReplyAddresses
from customers.ticket_model import (
    Status as Status,
    Priority as Priority,
    Source as Source,
    SenderType as SenderType,
    STATUSES as STATUSES,
    PRIORITIES as PRIORITIES,
    SUBJECT_MAX as SUBJECT_MAX,
    TEXT_MAX as TEXT_MAX,
    QUIET_DAYS as QUIET_DAYS,
    Ticket as Ticket,
    TicketMessage as TicketMessage,
    NewTicket as NewTicket,
    Filters as Filters,
)
from customers.ticket_errors import NotInBusiness, TicketClosed, TicketNotFound
from storage.executor import Connection, Executor
from storage.transactions import transaction

_COLUMNS = ("id, business_id, number, agent_id, customer_id, conversation_id, subject, description, status, priority,"
            " source, requester_name, requester_email, requester_phone, message_id, created_at, updated_at,"
            " last_activity_at, resolved_at, closed_at")
_MESSAGE_COLUMNS = "id, ticket_id, sender_type, author_user_id, content, message_id, created_at"


def _ticket(row: asyncpg.Record | None) -> Ticket:
    """A row a statement returned (an INSERT or UPDATE ... RETURNING of a row known to exist)."""
    assert row is not None
    return Ticket(**dict(row))


def _message(row: asyncpg.Record | None) -> TicketMessage:
    assert row is not None
    return TicketMessage(**dict(row))


def check_subject(subject: str) -> str:
    """The subject stripped; it becomes an email's Subject, so a line break is refused, not folded.

    Raises:
        ValueError: empty, longer than 200 characters, or holding a control character.
    """
    subject = subject.strip()
    if not subject:
        raise ValueError("must not be empty")
    if len(subject) > SUBJECT_MAX:
        raise ValueError(f"must be at most {SUBJECT_MAX} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in subject):
        raise ValueError("must not contain line breaks or control characters")
    return subject


def check_text(text: str, *, required: bool = True) -> str:
    """Raises: ValueError when empty (and required), over 10,000 characters or holding NUL."""
    text = text.strip()
    if required and not text:
        raise ValueError("must not be empty")
    if len(text) > TEXT_MAX:
        raise ValueError(f"must be at most {TEXT_MAX} characters")
    if "\x00" in text:
        raise ValueError("must not contain NUL characters")
    return text


def new_message_id(mail_domain: str) -> str:
    """A fresh Message-ID, stored with what it names so every copy and retry carries the same one."""
    return f"<ticket.{uuid.uuid4().hex}@{mail_domain}>"


async def check_agent(db: Executor, business_id: uuid.UUID, agent_id: uuid.UUID) -> None:
    """Raises: NotInBusiness when the agent is not this business's (or deleted, or missing)."""
    if not await db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM agents WHERE id = $1 AND business_id = $2 AND deleted_at IS NULL)",
            agent_id, business_id):
        raise NotInBusiness("agent")


async def _check_belongs(conn: Connection, business_id: uuid.UUID, new: NewTicket) -> NewTicket:
    """The agent and customer must be this business's; a customer fills in the requester left out."""
    if new.agent_id is not None:
        await check_agent(conn, business_id, new.agent_id)
    if new.customer_id is None:
        return new
    row = await conn.fetchrow("SELECT email, full_name FROM customers WHERE id = $1 AND business_id = $2",
                              new.customer_id, business_id)
    if row is None:
        raise NotInBusiness("customer")
    return dataclasses.replace(new, requester_email=new.requester_email or row["email"],
                               requester_name=new.requester_name or row["full_name"])


async def _by_conversation(conn: Connection, business_id: uuid.UUID, conversation_id: uuid.UUID) -> Ticket | None:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM support_tickets WHERE business_id = $1"
                              " AND conversation_id = $2", business_id, conversation_id)
    return None if row is None else _ticket(row)


async def _lock_counter(conn: Connection, business_id: uuid.UUID) -> None:
    """Lock the business's counter row until commit: concurrent openings wait here, in turn."""
    await conn.execute("INSERT INTO support_ticket_counters (business_id, last_number) VALUES ($1, 1000)"
                       " ON CONFLICT (business_id) DO NOTHING", business_id)
    await conn.execute("SELECT 1 FROM support_ticket_counters WHERE business_id = $1 FOR UPDATE", business_id)


async def _next_number(conn: Connection, business_id: uuid.UUID) -> int:
    return int(await conn.fetchval("UPDATE support_ticket_counters SET last_number = last_number + 1"
                                   " WHERE business_id = $1 RETURNING last_number", business_id))


async def open_ticket(db: Executor, business_id: uuid.UUID, new: NewTicket, *, now: datetime.datetime,
                      mail_domain: str, author_user_id: uuid.UUID | None = None) -> tuple[Ticket, bool]:
    """Open a ticket and queue the business's emails about it; for a conversation that has one, that one.

    `author_user_id`, a member who opened it from the dashboard, is not emailed about it.

    Returns:
        The ticket, and whether it is new.

    Raises:
        NotInBusiness: the agent or customer is not this business's.
        ValueError: the subject or description is not acceptable (see `check_subject`, `check_text`).
    """
    subject, description = check_subject(new.subject), check_text(new.description, required=False)
    async with transaction(db) as conn:
        new = await _check_belongs(conn, business_id, new)
        # The counter's lock comes first: a second opening for the same conversation waits
        # for the first to commit and then finds its ticket.
        await _lock_counter(conn, business_id)
        if new.conversation_id is not None:
            existing = await _by_conversation(conn, business_id, new.conversation_id)
            if existing is not None:
                return existing, False
        number = await _next_number(conn, business_id)
        row = await conn.fetchrow(
            f"INSERT INTO support_tickets (business_id, number, agent_id, customer_id, conversation_id, subject,"
            f" description, priority, source, requester_name, requester_email, requester_phone, message_id,"
            f" created_at, updated_at, last_activity_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
            f" $13, $14, $14, $14) RETURNING {_COLUMNS}",
            business_id, number, new.agent_id, new.customer_id, new.conversation_id, subject, description,
            new.priority, new.source, new.requester_name, new.requester_email, new.requester_phone,
            new_message_id(mail_domain), now)
        ticket = _ticket(row)
        await ticket_mail.ticket_opened(conn, ticket, now=now, exclude_user=author_user_id)
        return ticket, True


async def owner(db: Executor, ticket_id: uuid.UUID) -> uuid.UUID | None:
    """The business a ticket belongs to (None for no such ticket)."""
    business_id: uuid.UUID | None = await db.fetchval("SELECT business_id FROM support_tickets WHERE id = $1",
                                                      ticket_id)
    return business_id


async def get(db: Executor, business_id: uuid.UUID, ticket_id: uuid.UUID) -> Ticket:
    """Raises: TicketNotFound, also for another business's ticket."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM support_tickets WHERE id = $1 AND business_id = $2",
                            ticket_id, business_id)
    if row is None:
        raise TicketNotFound()
    return _ticket(row)


async def thread(db: Executor, ticket_id: uuid.UUID) -> list[TicketMessage]:
    """A ticket's messages, oldest first."""
    rows = await db.fetch(f"SELECT {_MESSAGE_COLUMNS} FROM support_ticket_messages WHERE ticket_id = $1"
                          " ORDER BY seq", ticket_id)
    return [_message(r) for r in rows]


async def list_tickets(db: Executor, business_id: uuid.UUID, filters: Filters, *,
                       after: tuple[datetime.datetime, uuid.UUID] | None, limit: int) -> list[Ticket]:
    """Tickets newest first, after the cursor's (created_at, id) when given."""
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM support_tickets WHERE business_id = $1"
        " AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR priority = $3)"
        " AND ($4::uuid IS NULL OR agent_id = $4) AND ($5::uuid IS NULL OR customer_id = $5)"
        " AND ($6::uuid[] IS NULL OR agent_id IS NULL OR agent_id = ANY($6))"
        " AND ($7::timestamptz IS NULL OR (created_at, id) < ($7, $8))"
        " ORDER BY created_at DESC, id DESC LIMIT $9",
        business_id, filters.status, filters.priority, filters.agent_id, filters.customer_id,
        None if filters.agent_ids is None else list(filters.agent_ids),
        after[0] if after else None, after[1] if after else None, limit)
    return [_ticket(r) for r in rows]


async def _locked(conn: Connection, business_id: uuid.UUID, ticket_id: uuid.UUID) -> Ticket:
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM support_tickets WHERE id = $1 AND business_id = $2"
                              " FOR UPDATE", ticket_id, business_id)
    if row is None:
        raise TicketNotFound()
    ticket = _ticket(row)
    if ticket.status == "closed":
        raise TicketClosed(f"ticket {ticket.reference} is closed")
    return ticket


async def update(db: Executor, business_id: uuid.UUID, ticket_id: uuid.UUID, *, now: datetime.datetime,
                 status: Status | None = None, priority: Priority | None = None) -> Ticket:
    """Change a ticket's status or priority (what is None stays).

    Raises:
        TicketNotFound: no such ticket in this business.
        TicketClosed: the ticket is closed.
    """
    async with transaction(db) as conn:
        current = await _locked(conn, business_id, ticket_id)
        new_status = status or current.status
        row = await conn.fetchrow(
            f"UPDATE support_tickets SET status = $2, priority = $3, updated_at = $4, last_activity_at = $4,"
            f" resolved_at = CASE WHEN $2 = 'resolved' AND status <> 'resolved' THEN $4 ELSE resolved_at END,"
            f" closed_at = CASE WHEN $2 = 'closed' THEN $4 END WHERE id = $1 RETURNING {_COLUMNS}",
            ticket_id, new_status, priority or current.priority, now)
        return _ticket(row)


def _status_after(current: Status, sender: SenderType) -> Status:
    if sender == "customer" and current == "resolved":
        return "open"
    if sender == "agent" and current == "open":
        return "in_progress"
    return current


async def add_message(db: Executor, business_id: uuid.UUID, ticket_id: uuid.UUID, sender: SenderType, content: str,
                      *, now: datetime.datetime, mail_domain: str, author_user_id: uuid.UUID | None = None,
                      inbound: ReplyAddresses | None = None,
                      message_id: str | None = None) -> tuple[Ticket, TicketMessage]:
    """Add a reply to the thread, move the status (see the module), queue its emails.

    A customer's reply is mailed to the business; a staff (or AI) reply to the requester, who
    answers to the ticket's reply address when `inbound` is given (inbound mail on).
    `message_id` (a reply that came by email, `inbound_mail`) is stored instead of a fresh one:
    it is unique, so the same email appended twice raises `asyncpg.UniqueViolationError`.

    Raises:
        TicketNotFound: no such ticket in this business.
        TicketClosed: the ticket is closed.
        ValueError: the content is empty or too long.
    """
    content = check_text(content)
    async with transaction(db) as conn:
        current = await _locked(conn, business_id, ticket_id)
        message = _message(await conn.fetchrow(
            f"INSERT INTO support_ticket_messages (ticket_id, sender_type, author_user_id, content, message_id,"
            f" created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_MESSAGE_COLUMNS}",
            ticket_id, sender, author_user_id, content, message_id or new_message_id(mail_domain), now))
        ticket = _ticket(await conn.fetchrow(
            f"UPDATE support_tickets SET status = $2, updated_at = $3, last_activity_at = $3 WHERE id = $1"
            f" RETURNING {_COLUMNS}", ticket_id, _status_after(current.status, sender), now))
        if sender == "customer":
            await ticket_mail.message_to_business(conn, ticket, message, now=now)
        else:
            await ticket_mail.reply_to_requester(conn, ticket, message, now=now, inbound=inbound)
        return ticket, message


async def close_quiet(db: Executor, *, now: datetime.datetime) -> int:
    """Close every ticket resolved and quiet for `QUIET_DAYS`; how many were closed."""
    closed = await db.fetch(
        "UPDATE support_tickets SET status = 'closed', closed_at = $1, updated_at = $1"
        " WHERE status = 'resolved' AND last_activity_at <= $2 RETURNING id",
        now, now - datetime.timedelta(days=QUIET_DAYS))
    return len(closed)
