"""The portal's reads: a customer's agents, their conversations (with summary, outcome and lead), messages, leads.

Every query starts from the customer's current assignments (`MINE`: assigned agents of the
customer's own business that are not deleted), so an agent unassigned a moment ago, another
agent of the business or another business's conversation is simply absent: a read of it
answers like a missing one. Conversations are widget conversations, calls ("voice") and the
SMS/WhatsApp stretches the outcomes package has ended (an SMS thread becomes a conversation
when it ends); pages are newest first with a (start, id) cursor.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any, Literal

import asyncpg

from storage.executor import Executor

Channel = Literal["widget", "sms", "whatsapp", "voice"]

# $1 customer, $2 business, $3 one agent or NULL.
MINE = (
    "mine AS (SELECT a.agent_id FROM customer_agent_assignments a JOIN agents g ON g.id = a.agent_id"
    " AND g.business_id = $2 AND g.deleted_at IS NULL WHERE a.customer_id = $1"
    " AND ($3::uuid IS NULL OR a.agent_id = $3))"
)

# Every conversation of the assigned agents: id, channel, agent, start, the person's address.
CONVERSATIONS = (
    f"WITH {MINE}, conv AS ("
    " SELECT w.id, 'widget' AS channel, w.agent_id, w.created_at AS started_at, NULL::text AS contact"
    " FROM widget_conversations w JOIN mine ON mine.agent_id = w.agent_id WHERE w.business_id = $2"
    " UNION ALL SELECT c.id, 'voice', c.agent_id, c.started_at, c.from_number"
    " FROM calls c JOIN mine ON mine.agent_id = c.agent_id WHERE c.business_id = $2"
    " UNION ALL SELECT o.id, o.channel, o.agent_id, o.first_message_at, o.contact_address"
    " FROM conversation_outcomes o JOIN mine ON mine.agent_id = o.agent_id"
    " WHERE o.business_id = $2 AND o.channel IN ('sms', 'whatsapp'))"
)

_LEAD_JSON = ("json_build_object('id', l.id, 'name', l.name, 'phone', l.phone, 'email', l.email, 'company',"
              " l.company, 'intent', l.intent, 'confidence', l.confidence, 'createdAt', l.created_at)")


@dataclasses.dataclass(frozen=True)
class Agent:
    id: uuid.UUID
    name: str


@dataclasses.dataclass(frozen=True)
class Conversation:
    id: uuid.UUID
    channel: str
    agent_id: uuid.UUID
    started_at: datetime.datetime
    contact: str | None
    ended_at: datetime.datetime | None
    summary: str | None
    outcome: str | None
    sentiment: str | None
    lead: dict[str, Any] | None


@dataclasses.dataclass(frozen=True)
class Message:
    role: str
    text: str
    at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Lead:
    id: uuid.UUID
    conversation_id: uuid.UUID
    agent_id: uuid.UUID
    channel: str
    name: str
    phone: str | None
    email: str | None
    company: str | None
    intent: str | None
    confidence: int
    created_at: datetime.datetime


@dataclasses.dataclass(frozen=True)
class Scope:
    """Whose portal this is: the customer, its business, and optionally one of its agents."""

    customer_id: uuid.UUID
    business_id: uuid.UUID
    agent_id: uuid.UUID | None = None


async def agents(db: Executor, scope: Scope) -> list[Agent]:
    rows = await db.fetch(
        f"WITH {MINE} SELECT g.id, g.name FROM mine JOIN agents g ON g.id = mine.agent_id ORDER BY g.name, g.id",
        scope.customer_id, scope.business_id, scope.agent_id)
    return [Agent(r["id"], r["name"]) for r in rows]


def _conversation(row: asyncpg.Record) -> Conversation:
    return Conversation(**dict(row))


# One page of the assigned agents' conversations, newest first: each agent's newest `$9` of each kind through its
# (agent, start DESC) index (0120), so a page reads at most agents x 3 x `$9` rows however many there are, and
# the outcome and lead are joined to that page only. $4 channel or NULL, [$5, $6) the range, ($7, $8) the cursor.
_PAGE = (
    "SELECT w.id, 'widget' AS channel, w.agent_id, w.created_at AS started_at, NULL::text AS contact FROM mine,"
    " LATERAL (SELECT * FROM widget_conversations w WHERE w.agent_id = mine.agent_id AND w.business_id = $2"
    " AND w.created_at >= $5 AND w.created_at < $6 AND ($7::timestamptz IS NULL OR (w.created_at, w.id) < ($7, $8))"
    " ORDER BY w.created_at DESC, w.id DESC LIMIT $9) w WHERE $4::text IS NULL OR $4 = 'widget'"
    " UNION ALL SELECT c.id, 'voice', c.agent_id, c.started_at, c.from_number FROM mine,"
    " LATERAL (SELECT * FROM calls c WHERE c.agent_id = mine.agent_id AND c.business_id = $2"
    " AND c.started_at >= $5 AND c.started_at < $6 AND ($7::timestamptz IS NULL OR (c.started_at, c.id) < ($7, $8))"
    " ORDER BY c.started_at DESC, c.id DESC LIMIT $9) c WHERE $4 IS NULL OR $4 = 'voice'"
    " UNION ALL SELECT o.id, o.channel, o.agent_id, o.first_message_at, o.contact_address FROM mine,"
    " LATERAL (SELECT * FROM conversation_outcomes o WHERE o.agent_id = mine.agent_id AND o.business_id = $2"
    " AND o.channel IN ('sms', 'whatsapp') AND ($4 IS NULL OR o.channel = $4) AND o.first_message_at >= $5"
    " AND o.first_message_at < $6 AND ($7::timestamptz IS NULL OR (o.first_message_at, o.id) < ($7, $8))"
    " ORDER BY o.first_message_at DESC, o.id DESC LIMIT $9) o"
)


async def conversations(db: Executor, scope: Scope, *, channel: Channel | None, start: datetime.datetime,
                        end: datetime.datetime, after: tuple[datetime.datetime, uuid.UUID] | None,
                        limit: int) -> list[Conversation]:
    """Conversations that started in [start, end), newest first, from `after` on."""
    rows = await db.fetch(
        f"WITH {MINE}, page AS ({_PAGE} ORDER BY started_at DESC, id DESC LIMIT $9)"
        " SELECT page.id, page.channel, page.agent_id, page.started_at, page.contact,"
        " o.ended_at, o.analysis->>'summary' AS summary, o.analysis->>'outcome' AS outcome,"
        " o.analysis->>'sentiment' AS sentiment,"
        f" (SELECT {_LEAD_JSON} FROM leads l WHERE l.conversation_id = page.id ORDER BY l.created_at LIMIT 1)::jsonb"
        " AS lead FROM page LEFT JOIN conversation_outcomes o ON o.id = page.id"
        " ORDER BY page.started_at DESC, page.id DESC",
        scope.customer_id, scope.business_id, scope.agent_id, channel, start, end,
        after[0] if after else None, after[1] if after else None, limit)
    return [_conversation(r) for r in rows]


async def messages(db: Executor, scope: Scope, conversation_id: uuid.UUID) -> list[Message] | None:
    """The conversation's messages (a call's transcript) oldest first; None when it isn't the customer's."""
    found = await db.fetchrow(
        f"{CONVERSATIONS} SELECT conv.channel, conv.contact, o.our_address, o.first_message_at, o.last_message_at"
        " FROM conv LEFT JOIN conversation_outcomes o ON o.id = conv.id WHERE conv.id = $4",
        scope.customer_id, scope.business_id, scope.agent_id, conversation_id)
    if found is None:
        return None
    if found["channel"] == "widget":
        rows = await db.fetch("SELECT role, text, created_at AS at FROM widget_messages WHERE conversation_id = $1"
                              " ORDER BY created_at, id", conversation_id)
    elif found["channel"] == "voice":
        rows = await db.fetch("SELECT role, text, started_at AS at FROM call_turns WHERE call_id = $1"
                              " AND role IN ('user', 'assistant') ORDER BY seq, id", conversation_id)
    else:
        rows = await db.fetch(
            "SELECT CASE WHEN direction = 'inbound' THEN 'user' ELSE 'assistant' END AS role, body AS text,"
            " created_at AS at FROM sms_messages WHERE business_id = $1 AND status <> 'failed'"
            " AND ((from_number = $2 AND to_number = $3) OR (from_number = $3 AND to_number = $2))"
            " AND created_at BETWEEN $4 AND $5 ORDER BY created_at, id",
            scope.business_id, found["contact"], found["our_address"], found["first_message_at"],
            found["last_message_at"])
    return [Message(r["role"], r["text"], r["at"]) for r in rows]


async def leads(db: Executor, scope: Scope, *, start: datetime.datetime, end: datetime.datetime,
                after: tuple[datetime.datetime, uuid.UUID] | None, limit: int) -> list[Lead]:
    """Leads of the assigned agents' conversations, newest first (no links to the contact's other ones:
    those may be another agent's)."""
    rows = await db.fetch(
        f"WITH {MINE} SELECT l.id, l.conversation_id, o.agent_id, l.channel, l.name, l.phone, l.email, l.company,"
        " l.intent, l.confidence, l.created_at FROM leads l JOIN conversation_outcomes o ON o.id = l.conversation_id"
        " JOIN mine ON mine.agent_id = o.agent_id WHERE l.business_id = $2 AND l.created_at >= $4"
        " AND l.created_at < $5 AND ($6::timestamptz IS NULL OR (l.created_at, l.id) < ($6, $7::uuid))"
        " ORDER BY l.created_at DESC, l.id DESC LIMIT $8",
        scope.customer_id, scope.business_id, scope.agent_id, start, end,
        after[0] if after else None, after[1] if after else None, limit)
    return [Lead(**dict(r)) for r in rows]
