"""The `open_ticket` handoff tool: the agent opens a ticket for the person when it can't help.

A tool runner passes the model's arguments and what it knows of the conversation
(`HandoffContext`); `handoff` answers with the text the model reads back (`HandoffResult`).
Where the issue is silent, chosen as follows:

- one ticket per conversation: asked again, the tool answers with the ticket already opened;
- on SMS, WhatsApp and calls the phone is the channel's (the caller ID or sender), never one
  the model wrote; on the widget an email address is required first, so the model is told to
  ask for one and no ticket is opened without it;
- the summary is the ticket's description, its first line (cut to 80 characters) the subject;
- arguments the model got wrong (no summary, a bad address or priority) come back as a
  message for the model to correct, not as an exception, and open nothing.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import re
import uuid
from collections.abc import Mapping
from typing import Any, Literal, cast

from customers import tickets
from mail.message import check_address
from storage.executor import Executor

Channel = Literal["widget", "sms", "whatsapp", "call"]
NAME = "open_ticket"
SUBJECT_CHARS = 80
_PHONE_CHANNELS = ("sms", "whatsapp", "call")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")

TOOL: dict[str, Any] = {"type": "function", "function": {
    "name": NAME,
    "description": ("Open a support ticket so the business's staff follow up, when you cannot help. On the website"
                    " chat, ask for the person's email address first. Tell the person the ticket number you get."),
    "parameters": {"type": "object", "additionalProperties": False, "required": ["summary"], "properties": {
        "summary": {"type": "string", "minLength": 1, "maxLength": tickets.TEXT_MAX,
                    "description": "What the person needs, for the staff, first line a short title"},
        "name": {"type": "string", "maxLength": 200},
        "email": {"type": "string", "maxLength": 320},
        "phone": {"type": "string", "maxLength": 40},
        "priority": {"type": "string", "enum": list(tickets.PRIORITIES)},
    }}}}


@dataclasses.dataclass(frozen=True)
class HandoffContext:
    """The conversation the tool is called in; `channel_phone` the person's number on SMS, WhatsApp and calls."""

    business_id: uuid.UUID
    agent_id: uuid.UUID
    conversation_id: uuid.UUID
    channel: Channel
    channel_phone: str | None = None


@dataclasses.dataclass(frozen=True)
class HandoffResult:
    """What the model reads back; `ticket` is None when nothing was opened (`message` says why)."""

    message: str
    ticket: tickets.Ticket | None = None
    created: bool = False


def _arguments(raw: str | Mapping[str, Any]) -> dict[str, Any]:
    """Raises: ValueError when the arguments are not a JSON object."""
    value = json.loads(raw) if isinstance(raw, str) else dict(raw)
    if not isinstance(value, dict):
        raise ValueError("the arguments must be a JSON object")
    return value


def _text(args: Mapping[str, Any], name: str, limit: int) -> str | None:
    value = args.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    value = value.strip()
    if len(value) > limit:
        raise ValueError(f"{name} must be at most {limit} characters")
    return value or None


def _channel_phone(context: HandoffContext) -> str | None:
    """The person's number from the channel (WhatsApp's `whatsapp:` prefix dropped); None when not E.164."""
    if context.channel not in _PHONE_CHANNELS or not context.channel_phone:
        return None
    phone = context.channel_phone.removeprefix("whatsapp:")
    return phone if _E164.match(phone) else None


def _subject(summary: str) -> str:
    first = " ".join(summary.splitlines()[0].split())
    return first if len(first) <= SUBJECT_CHARS else first[:SUBJECT_CHARS - 1].rstrip() + "…"


def _request(context: HandoffContext, args: Mapping[str, Any]) -> tickets.NewTicket:
    """The ticket the arguments ask for. Raises: ValueError with a message for the model."""
    summary = tickets.check_text(_text(args, "summary", tickets.TEXT_MAX) or "")
    priority = args.get("priority") or "medium"
    if priority not in tickets.PRIORITIES:
        raise ValueError(f"priority must be one of {', '.join(tickets.PRIORITIES)}")
    raw_email = _text(args, "email", 320)
    email = check_address(raw_email) if raw_email else None
    if context.channel == "widget" and email is None:
        raise ValueError("ask the person for their email address first, then call open_ticket with it")
    return tickets.NewTicket(
        tickets.check_subject(_subject(summary)), summary, context.channel,
        priority=cast(tickets.Priority, priority), agent_id=context.agent_id,
        conversation_id=context.conversation_id, requester_name=_text(args, "name", 200),
        requester_email=email, requester_phone=_channel_phone(context))


async def handoff(db: Executor, context: HandoffContext, arguments: str | Mapping[str, Any], *,
                  now: datetime.datetime, mail_domain: str) -> HandoffResult:
    """Run the tool: open the conversation's ticket (once) and tell the model its number."""
    try:
        new = _request(context, _arguments(arguments))
    except ValueError as exc:
        return HandoffResult(f"No ticket was opened: {exc}.")
    ticket, created = await tickets.open_ticket(db, context.business_id, new, now=now, mail_domain=mail_domain)
    if created:
        return HandoffResult(f"Ticket {ticket.reference} is open; the staff will follow up. Give the person the"
                             f" number {ticket.reference}.", ticket, True)
    return HandoffResult(f"This conversation already has ticket {ticket.reference} ({ticket.status}); give the"
                         f" person that number.", ticket, False)
