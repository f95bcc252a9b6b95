"""A support ticket's shape: its states, priorities, sources, and the rows as the code reads them.

Kept apart from `tickets` (the lifecycle and its SQL) so the emails (`ticket_mail`) can read a
ticket without importing the module that sends them.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from typing import Literal

Status = Literal["open", "in_progress", "resolved", "closed"]
Priority = Literal["low", "medium", "high", "urgent"]
Source = Literal["widget", "sms", "whatsapp", "call", "portal", "dashboard"]
SenderType = Literal["customer", "agent", "ai"]
STATUSES: tuple[Status, ...] = ("open", "in_progress", "resolved", "closed")
PRIORITIES: tuple[Priority, ...] = ("low", "medium", "high", "urgent")
SUBJECT_MAX = 200
TEXT_MAX = 10_000
QUIET_DAYS = 7


@dataclasses.dataclass(frozen=True)
class Ticket:
    id: uuid.UUID
    business_id: uuid.UUID
    number: int
    agent_id: uuid.UUID | None
    customer_id: uuid.UUID | None
    conversation_id: uuid.UUID | None
    subject: str
    description: str
    status: Status
    priority: Priority
    source: Source
    requester_name: str | None
    requester_email: str | None
    requester_phone: str | None
    message_id: str
    created_at: datetime.datetime
    updated_at: datetime.datetime
    last_activity_at: datetime.datetime
    resolved_at: datetime.datetime | None
    closed_at: datetime.datetime | None

    @property
    def reference(self) -> str:
        """The number people quote: `T-1001`."""
        return f"T-{self.number}"


@dataclasses.dataclass(frozen=True)
class TicketMessage:
    id: uuid.UUID
    ticket_id: uuid.UUID
    sender_type: SenderType
    author_user_id: uuid.UUID | None
    content: str
    message_id: str
    created_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class NewTicket:
    """What opening a ticket takes; the requester defaults to the customer's name and address."""

    subject: str
    description: str
    source: Source
    priority: Priority = "medium"
    agent_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    conversation_id: uuid.UUID | None = None
    requester_name: str | None = None
    requester_email: str | None = None
    requester_phone: str | None = None


@dataclasses.dataclass(frozen=True)
class Filters:
    """Which tickets a list shows; `agent_ids` (the portal's assignments) keeps only those agents' and none."""

    status: Status | None = None
    priority: Priority | None = None
    agent_id: uuid.UUID | None = None
    customer_id: uuid.UUID | None = None
    agent_ids: Sequence[uuid.UUID] | None = None
