"""Request and response shapes of the ticket routes (staff and portal)."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from agent_server.api.shapes import Body, Instant, Query, Uuid
from customers.tickets import SUBJECT_MAX, TEXT_MAX

Status = Literal["open", "in_progress", "resolved", "closed"]
Priority = Literal["low", "medium", "high", "urgent"]
Subject = Annotated[str, msgspec.Meta(max_length=SUBJECT_MAX)]
Text = Annotated[str, msgspec.Meta(max_length=TEXT_MAX)]


class DashboardTicketCreate(Body, rename=None, kw_only=True):
    """The dashboard's existing call, in its snake_case: a ticket opened by staff, for a customer when named."""

    subject: Subject
    description: Text = ""
    priority: Priority = "medium"
    customer_id: Uuid | None = None
    chatbot_id: Uuid | None = None
    business_id: Uuid | None = None


class PortalTicketCreate(Body):
    """A ticket a customer opens from the portal, about one of their agents when named."""

    subject: Subject
    description: Text = ""
    priority: Priority = "medium"
    agent_id: Uuid | None = None


class TicketPatch(Body):
    """What changes; at least one of the two."""

    status: Status | None = None
    priority: Priority | None = None


class TicketMessageCreate(Body):
    content: Text


class TicketQuery(Query):
    business_id: Uuid | None = None
    status: Status | None = None
    priority: Priority | None = None
    agent_id: Uuid | None = None
    cursor: str | None = None


class PortalTicketQuery(Query):
    status: Status | None = None
    cursor: str | None = None


class TicketOut(msgspec.Struct, rename="camel", kw_only=True):
    """A ticket; `number` is what people quote (`T-1001`)."""

    id: Uuid
    number: str
    business_id: Uuid
    agent_id: Uuid | None
    customer_id: Uuid | None
    conversation_id: Uuid | None
    subject: str
    description: str
    status: Status
    priority: Priority
    source: str
    requester_name: str | None
    requester_email: str | None
    requester_phone: str | None
    created_at: Instant
    updated_at: Instant
    resolved_at: Instant | None
    closed_at: Instant | None


class TicketMessageOut(msgspec.Struct, rename="camel", kw_only=True):
    """One reply; `senderType` agent is the business's staff, ai its agent."""

    id: Uuid
    sender_type: Literal["customer", "agent", "ai"]
    content: str
    created_at: Instant


class TicketDetail(msgspec.Struct, rename="camel", kw_only=True):
    """A ticket with its thread, oldest first."""

    ticket: TicketOut
    messages: list[TicketMessageOut]


class TicketMessagePosted(msgspec.Struct, rename="camel", kw_only=True):
    """The new message and the ticket as it now is (a reply may change its status)."""

    message: TicketMessageOut
    ticket: TicketOut


class TicketPage(msgspec.Struct, rename="camel", kw_only=True):
    """Tickets newest first; `nextCursor` (null on the last page) asks for the next page."""

    tickets: list[TicketOut]
    next_cursor: str | None
