"""SQL of `conversation_outcomes`: ending a conversation once, finding idle ones, claiming and storing analyses.

A widget conversation and a call keep their own ids; an SMS or WhatsApp thread has no
conversation row, so each stretch of it (the messages after the previous stretch, up to a
silence of the agent's timeout) is one, with an id derived from its first message: two
sweeps that see the same stretch insert the same id, and the second insert does nothing.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any, Literal

import asyncpg

from storage.executor import Executor

Channel = Literal["widget", "sms", "whatsapp", "call"]
CHANNELS: tuple[Channel, ...] = ("widget", "sms", "whatsapp", "call")
EndReason = Literal["timeout", "request", "hangup"]
AnalysisStatus = Literal["pending", "running", "analysed", "analysis_failed", "skipped"]
DEFAULT_TIMEOUT_MINUTES = 30
# An SMS stretch older than this is no longer looked for (bounds the sweep's scan).
SMS_LOOKBACK = datetime.timedelta(days=7)
_SMS_NAMESPACE = uuid.UUID("5f0b7a3e-58d4-4c1e-9a57-2b1f0c6a9e10")
WHATSAPP = "whatsapp:"


@dataclasses.dataclass(frozen=True)
class Outcome:
    id: uuid.UUID
    business_id: uuid.UUID
    agent_id: uuid.UUID | None
    channel: Channel
    contact_address: str | None
    our_address: str | None
    first_message_at: datetime.datetime
    last_message_at: datetime.datetime
    ended_at: datetime.datetime
    end_reason: EndReason
    analysis_status: AnalysisStatus
    analysis_attempts: int
    analysis: dict[str, Any] | None
    raw_output: str | None
    analysis_error: str | None
    analysed_at: datetime.datetime | None


_COLUMNS = ("id, business_id, agent_id, channel, contact_address, our_address, first_message_at, last_message_at,"
            " ended_at, end_reason, analysis_status, analysis_attempts, analysis, raw_output, analysis_error,"
            " analysed_at")


def _outcome(row: asyncpg.Record) -> Outcome:
    return Outcome(**dict(row))


def sms_stretch_id(first_message_id: uuid.UUID) -> uuid.UUID:
    return uuid.uuid5(_SMS_NAMESPACE, str(first_message_id))


async def insert_widget_end(db: Executor, conversation_id: uuid.UUID, *, reason: EndReason,
                            now: datetime.datetime) -> uuid.UUID | None:
    """End a widget conversation; None when it was already ended (or does not exist)."""
    ended: uuid.UUID | None = await db.fetchval(
        "INSERT INTO conversation_outcomes (id, business_id, agent_id, channel, our_address, first_message_at,"
        " last_message_at, ended_at, end_reason)"
        " SELECT c.id, c.business_id, c.agent_id, 'widget', c.origin,"
        "  coalesce((SELECT min(created_at) FROM widget_messages WHERE conversation_id = c.id), c.created_at),"
        "  c.updated_at, $2, $3 FROM widget_conversations c WHERE c.id = $1"
        " ON CONFLICT (id) DO NOTHING RETURNING id", conversation_id, now, reason)
    return ended


async def insert_call_end(db: Executor, call_id: uuid.UUID, *, now: datetime.datetime) -> uuid.UUID | None:
    """End a call's conversation (at hang-up); None when it was already ended."""
    ended: uuid.UUID | None = await db.fetchval(
        "INSERT INTO conversation_outcomes (id, business_id, agent_id, channel, contact_address, our_address,"
        " first_message_at, last_message_at, ended_at, end_reason)"
        " SELECT id, business_id, agent_id, 'call', from_number, to_number, started_at, coalesce(ended_at, $2),"
        "  $2, 'hangup' FROM calls WHERE id = $1"
        " ON CONFLICT (id) DO NOTHING RETURNING id", call_id, now)
    return ended


async def idle_widget_conversations(db: Executor, *, now: datetime.datetime, limit: int) -> list[uuid.UUID]:
    """Widget conversations with messages, silent for longer than their agent's timeout, not yet ended."""
    rows = await db.fetch(
        "SELECT c.id FROM widget_conversations c JOIN agents a ON a.id = c.agent_id"
        " WHERE c.updated_at < $1::timestamptz - make_interval(mins => a.session_timeout_minutes)"
        " AND EXISTS (SELECT 1 FROM widget_messages m WHERE m.conversation_id = c.id)"
        " AND NOT EXISTS (SELECT 1 FROM conversation_outcomes o WHERE o.id = c.id)"
        " ORDER BY c.updated_at LIMIT $2", now, limit)
    return [r["id"] for r in rows]


# The SMS/WhatsApp stretches not ended yet ($1 now, $2 lookback, $3 default timeout; $4 business, $5 our
# address and $6 the contact narrow it when not null): the messages after the thread's last ended
# stretch, split where one came more than the agent's timeout after the one before it.
_UNENDED_STRETCHES = (
    "WITH m AS (SELECT id, business_id, agent_id, created_at,"
    "   CASE WHEN direction = 'inbound' THEN from_number ELSE to_number END AS contact,"
    "   CASE WHEN direction = 'inbound' THEN to_number ELSE from_number END AS ours"
    "   FROM sms_messages WHERE created_at > $1::timestamptz - $2::interval AND status <> 'failed'"
    "   AND ($4::uuid IS NULL OR business_id = $4)"
    "   AND ($5::text IS NULL OR (from_number = $5 AND to_number = $6) OR (from_number = $6 AND to_number = $5))),"
    " open AS (SELECT m.*, make_interval(mins => coalesce(a.session_timeout_minutes, $3)) AS timeout"
    "   FROM m LEFT JOIN agents a ON a.id = m.agent_id"
    "   WHERE m.created_at > coalesce((SELECT max(o.last_message_at) FROM conversation_outcomes o"
    "   WHERE o.channel IN ('sms', 'whatsapp') AND o.business_id = m.business_id"
    "   AND o.our_address = m.ours AND o.contact_address = m.contact), '-infinity')),"
    " starts AS (SELECT open.*, CASE WHEN created_at - lag(created_at) OVER thread <= timeout THEN 0 ELSE 1 END"
    "   AS starts FROM open WINDOW thread AS (PARTITION BY business_id, ours, contact ORDER BY created_at, id)),"
    " numbered AS (SELECT starts.*, sum(starts) OVER (PARTITION BY business_id, ours, contact"
    "   ORDER BY created_at, id) AS stretch FROM starts),"
    " stretches AS (SELECT business_id, ours, contact, stretch, min(created_at) AS first_at,"
    "   max(created_at) AS last_at, max(timeout) AS timeout, (array_agg(id ORDER BY created_at, id))[1] AS first_id,"
    "   (array_agg(agent_id ORDER BY created_at DESC) FILTER (WHERE agent_id IS NOT NULL))[1] AS agent_id"
    "   FROM numbered GROUP BY business_id, ours, contact, stretch),"
    " followed AS (SELECT stretches.*, lead(first_at) OVER (PARTITION BY business_id, ours, contact"
    "   ORDER BY stretch) AS next_at FROM stretches)"
)


async def _insert_stretch(db: Executor, stretch: asyncpg.Record, *, reason: EndReason,
                          now: datetime.datetime) -> uuid.UUID | None:
    channel = "whatsapp" if stretch["contact"].startswith(WHATSAPP) else "sms"
    found: uuid.UUID | None = await db.fetchval(
        "INSERT INTO conversation_outcomes (id, business_id, agent_id, channel, contact_address, our_address,"
        " first_message_at, last_message_at, ended_at, end_reason)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING RETURNING id",
        sms_stretch_id(stretch["first_id"]), stretch["business_id"], stretch["agent_id"], channel,
        stretch["contact"], stretch["ours"], stretch["first_at"], stretch["last_at"], now, reason)
    return found


async def insert_idle_sms_stretches(db: Executor, *, now: datetime.datetime, limit: int) -> list[uuid.UUID]:
    """End every SMS/WhatsApp stretch silent for longer than its agent's timeout; returns the new ids."""
    rows = await db.fetch(
        f"{_UNENDED_STRETCHES} SELECT * FROM followed WHERE next_at IS NOT NULL OR last_at < $1::timestamptz - timeout"
        " ORDER BY last_at LIMIT $7", now, SMS_LOOKBACK, DEFAULT_TIMEOUT_MINUTES, None, None, None, limit)
    ended = []
    for r in rows:
        found = await _insert_stretch(db, r, reason="timeout", now=now)
        if found is not None:
            ended.append(found)
    return ended


@dataclasses.dataclass(frozen=True)
class SmsMessage:
    """Where an SMS/WhatsApp message sits: its business, thread (our address, the contact's) and time."""

    business_id: uuid.UUID
    ours: str
    contact: str
    created_at: datetime.datetime


async def sms_message(db: Executor, message_id: uuid.UUID) -> SmsMessage | None:
    row = await db.fetchrow(
        "SELECT business_id, created_at, CASE WHEN direction = 'inbound' THEN from_number ELSE to_number END AS contact,"
        " CASE WHEN direction = 'inbound' THEN to_number ELSE from_number END AS ours FROM sms_messages WHERE id = $1",
        message_id)
    return None if row is None else SmsMessage(row["business_id"], row["ours"], row["contact"], row["created_at"])


async def ended_stretch_of(db: Executor, message: SmsMessage) -> uuid.UUID | None:
    """The ended stretch this message belongs to, if it has ended."""
    found: uuid.UUID | None = await db.fetchval(
        "SELECT id FROM conversation_outcomes WHERE channel IN ('sms', 'whatsapp') AND business_id = $1"
        " AND our_address = $2 AND contact_address = $3 AND $4 BETWEEN first_message_at AND last_message_at",
        message.business_id, message.ours, message.contact, message.created_at)
    return found


async def unended_stretches(db: Executor, business_id: uuid.UUID, *, now: datetime.datetime,
                            thread: tuple[str, str] | None = None) -> list[asyncpg.Record]:
    """A business's SMS/WhatsApp stretches not ended yet (of one (ours, contact) thread, when given), oldest first."""
    ours, contact = thread or (None, None)
    rows: list[asyncpg.Record] = await db.fetch(
        f"{_UNENDED_STRETCHES} SELECT * FROM followed ORDER BY ours, contact, first_at",
        now, SMS_LOOKBACK, DEFAULT_TIMEOUT_MINUTES, business_id, ours, contact)
    return rows


async def insert_requested_sms_end(db: Executor, stretches: list[asyncpg.Record], target: asyncpg.Record, *,
                                   now: datetime.datetime) -> list[uuid.UUID]:
    """End `target` by request, and the stretches of its thread before it (by timeout: they were silent past it).

    The earlier ones go first: ending the target alone would leave them behind its end, where the
    sweep no longer looks. Returns the ids newly ended (empty when another end got there first).
    """
    ended = []
    for stretch in stretches:
        if (stretch["ours"], stretch["contact"]) != (target["ours"], target["contact"]):
            continue
        if stretch["first_at"] > target["first_at"]:
            break
        requested = stretch["first_id"] == target["first_id"]
        found = await _insert_stretch(db, stretch, reason="request" if requested else "timeout", now=now)
        if found is not None:
            ended.append(found)
    return ended


async def starts_sms_stretch(db: Executor, message_id: uuid.UUID) -> bool:
    """Whether this inbound text opens a new stretch of its thread (the rule `insert_idle_sms_stretches` ends by).

    It does when no earlier message of the thread came within the agent's timeout before it,
    after the thread's last ended stretch.
    """
    starts: bool | None = await db.fetchval(
        "SELECT NOT EXISTS (SELECT 1 FROM sms_messages p WHERE p.business_id = m.business_id AND p.id <> m.id"
        "  AND p.status <> 'failed' AND ((p.from_number = m.from_number AND p.to_number = m.to_number)"
        "  OR (p.from_number = m.to_number AND p.to_number = m.from_number))"
        "  AND p.created_at <= m.created_at"
        "  AND p.created_at >= m.created_at - make_interval(mins => coalesce(a.session_timeout_minutes, $2))"
        "  AND p.created_at > coalesce((SELECT max(o.last_message_at) FROM conversation_outcomes o"
        "  WHERE o.channel IN ('sms', 'whatsapp') AND o.business_id = m.business_id"
        "  AND o.our_address = m.to_number AND o.contact_address = m.from_number), '-infinity'))"
        " FROM sms_messages m LEFT JOIN agents a ON a.id = m.agent_id WHERE m.id = $1 AND m.direction = 'inbound'",
        message_id, DEFAULT_TIMEOUT_MINUTES)
    return bool(starts)


async def find(db: Executor, outcome_id: uuid.UUID) -> Outcome | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM conversation_outcomes WHERE id = $1", outcome_id)
    return None if row is None else _outcome(row)


async def business_of_conversation(db: Executor, conversation_id: uuid.UUID) -> uuid.UUID | None:
    """The business of a widget conversation, call or ended stretch with this id (None when none has it)."""
    found: uuid.UUID | None = await db.fetchval(
        "SELECT coalesce((SELECT business_id FROM conversation_outcomes WHERE id = $1),"
        " (SELECT business_id FROM widget_conversations WHERE id = $1),"
        " (SELECT business_id FROM calls WHERE id = $1))", conversation_id)
    return found


async def claim(db: Executor, outcome_id: uuid.UUID, *, now: datetime.datetime, until: datetime.datetime,
                force: bool = False) -> Outcome | None:
    """Take one conversation's analysis: pending, or a claim that ran out (or, with `force`, one finished)."""
    row = await db.fetchrow(
        "UPDATE conversation_outcomes SET analysis_status = 'running', analysis_attempts = analysis_attempts + 1,"
        " claimed_until = $3 WHERE id = $1 AND (analysis_status = 'pending'"
        " OR (analysis_status = 'running' AND claimed_until < $2)"
        " OR ($4 AND analysis_status IN ('analysed', 'analysis_failed', 'skipped')))"
        f" RETURNING {_COLUMNS}", outcome_id, now, until, force)
    return None if row is None else _outcome(row)


async def claim_batch(db: Executor, *, now: datetime.datetime, until: datetime.datetime, limit: int,
                      business_id: uuid.UUID | None = None, start: datetime.datetime | None = None,
                      end: datetime.datetime | None = None, channel: Channel | None = None) -> list[Outcome]:
    """Take up to `limit` unanalysed conversations, oldest ended first, skipping those another runner holds."""
    rows = await db.fetch(
        "WITH due AS (SELECT id FROM conversation_outcomes WHERE (analysis_status = 'pending'"
        "   OR (analysis_status = 'running' AND claimed_until < $1))"
        "   AND ($4::uuid IS NULL OR business_id = $4) AND ($5::timestamptz IS NULL OR ended_at >= $5)"
        "   AND ($6::timestamptz IS NULL OR ended_at < $6) AND ($7::text IS NULL OR channel = $7)"
        "   ORDER BY ended_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)"
        " UPDATE conversation_outcomes o SET analysis_status = 'running',"
        "   analysis_attempts = o.analysis_attempts + 1, claimed_until = $2"
        f" FROM due WHERE o.id = due.id RETURNING {', '.join('o.' + c.strip() for c in _COLUMNS.split(','))}",
        now, until, limit, business_id, start, end, channel)
    return [_outcome(r) for r in rows]


async def finish(db: Executor, outcome: Outcome, *, status: AnalysisStatus, now: datetime.datetime,
                 analysis: dict[str, Any] | None = None, raw_output: str | None = None, error: str | None = None,
                 prompt_tokens: int = 0, completion_tokens: int = 0, charged: int = 0) -> bool:
    """Store a claimed analysis's result; False when the claim was lost (another runner took it over)."""
    done = await db.fetchval(
        "UPDATE conversation_outcomes SET analysis_status = $3, analysis = $4, raw_output = $5, analysis_error = $6,"
        " prompt_tokens = prompt_tokens + $7, completion_tokens = completion_tokens + $8, charged = charged + $9,"
        " analysed_at = CASE WHEN $3 = 'pending' THEN NULL ELSE $10::timestamptz END, claimed_until = NULL"
        " WHERE id = $1 AND analysis_attempts = $2 AND analysis_status = 'running' RETURNING true",
        outcome.id, outcome.analysis_attempts, status, analysis, raw_output, error, prompt_tokens,
        completion_tokens, charged, now)
    return bool(done)


async def agent_settings(db: Executor, agent_id: uuid.UUID | None) -> tuple[str, Any]:
    """The agent's model and custom field definitions ("" and [] without an agent)."""
    row = await db.fetchrow("SELECT model, extraction_fields FROM agents WHERE id = $1", agent_id)
    return ("", []) if row is None else (row["model"], row["extraction_fields"])


async def business_region(db: Executor, business_id: uuid.UUID) -> str:
    """The country a lead's local phone number is read in: the business's own."""
    region: str = await db.fetchval("SELECT country_code FROM businesses WHERE id = $1", business_id)
    return region
