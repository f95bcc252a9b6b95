"""Emails about a conversation while it happens: one has started, and the agent failed in one.

`conversation_started` is queued in the transaction that stores a conversation's first message
(a widget chat's, the text that opens an SMS/WhatsApp stretch) or when a call's media stream
starts, with the conversation's id in its dedupe key: a retried webhook queues nothing new.
The dashboard's test chat is the business talking to itself and is left out.

`agent_error` is queued when the person got an apology instead of an answer: the model failed
on a widget message or a text, or a call recorded an LLM or speech-recognition fault (the
agent apologised, or said it could not hear). TTS faults are left out: the stage retries and
falls back to another voice, so the caller usually heard the sentence; they stay in the
call's record. The dedupe key is the agent and the UTC hour, so a provider outage that fails
every conversation at once is one email per member and agent each hour, naming the first
failure; the rest are in the logs and the calls' faults. A wallet that can't pay is not an
agent error (the agent was not asked).

Both carry each recipient's one-click unsubscribe link. Every value from a conversation goes
to the templates, whose HTML part escapes it.
"""

from __future__ import annotations

import datetime
import uuid

from media.call_records import faults_of
from outcomes import notifications, records, unsubscribe
from outcomes.records import Channel
from storage.executor import Executor

CHANNEL_NAMES: dict[Channel, str] = {"widget": "website chat", "sms": "SMS", "whatsapp": "WhatsApp",
                                     "call": "phone call"}
# Call faults worth an email: the caller got an apology or "I can't hear you" instead of an answer.
CALL_FAULT_STAGES = ("llm", "stt")
MAX_QUOTED_CHARS = 500


def channel_of(address: str) -> Channel:
    """The channel of an SMS webhook address: `whatsapp:+1…` is WhatsApp, a bare number SMS."""
    return "whatsapp" if address.startswith(records.WHATSAPP) else "sms"


async def _agent_name(db: Executor, agent_id: uuid.UUID | None) -> str:
    name: str | None = await db.fetchval("SELECT name FROM agents WHERE id = $1", agent_id)
    return name or "Your agent"


async def conversation_started(db: Executor, business_id: uuid.UUID, agent_id: uuid.UUID | None, *,
                               conversation_id: uuid.UUID, channel: Channel, contact: str | None,
                               first_message: str | None, now: datetime.datetime,
                               links: unsubscribe.Links) -> list[int]:
    """Queue the emails saying a conversation started (in the caller's transaction); the new outbox ids.

    Args:
        conversation_id: the id the conversation is known by (a widget chat's, a call's, an SMS stretch's).
        contact: the caller's or sender's number, None for a website visitor.
        first_message: what the person wrote first (None for a call).
    """
    if not await notifications.recipients(db, business_id, "conversation_started"):
        return []
    values = {"channel": channel, "channel_name": CHANNEL_NAMES[channel], "agent_name": await _agent_name(db, agent_id),
              "contact": contact, "conversation_id": str(conversation_id),
              "first_message": (first_message or "")[:MAX_QUOTED_CHARS]}
    return await notifications.notify(db, business_id, "conversation_started", "conversation_started", values,
                                      event_key=str(conversation_id), now=now,
                                      headers_for=links.for_event(business_id, "conversation_started"))


async def sms_received(db: Executor, message_id: uuid.UUID, *, now: datetime.datetime,
                       links: unsubscribe.Links) -> list[int]:
    """An inbound text was stored: when it opens a new stretch of its thread, the conversation started."""
    row = await db.fetchrow("SELECT business_id, agent_id, from_number, body FROM sms_messages WHERE id = $1",
                            message_id)
    if row is None or not await notifications.recipients(db, row["business_id"], "conversation_started"):
        return []
    if not await records.starts_sms_stretch(db, message_id):
        return []
    return await conversation_started(db, row["business_id"], row["agent_id"],
                                      conversation_id=records.sms_stretch_id(message_id),
                                      channel=channel_of(row["from_number"]), contact=row["from_number"],
                                      first_message=row["body"], now=now, links=links)


async def agent_error(db: Executor, business_id: uuid.UUID, agent_id: uuid.UUID, *, channel: Channel,
                      problem: str, now: datetime.datetime, links: unsubscribe.Links,
                      contact: str | None = None, conversation_id: uuid.UUID | None = None) -> list[int]:
    """Queue the emails saying the agent failed a conversation, at most one per agent and UTC hour.

    Args:
        problem: what went wrong, as the provider or the call's fault record put it.
        contact: the caller's or sender's number, when there is one.
        conversation_id: the conversation it happened in, when it has an id yet.
    """
    hour = now.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:00")
    values = {"channel": channel, "channel_name": CHANNEL_NAMES[channel], "agent_name": await _agent_name(db, agent_id),
              "problem": problem[:MAX_QUOTED_CHARS], "contact": contact,
              "conversation_id": None if conversation_id is None else str(conversation_id), "hour": hour}
    return await notifications.notify(db, business_id, "agent_error", "agent_error", values,
                                      event_key=f"{agent_id}:{hour}", now=now,
                                      headers_for=links.for_event(business_id, "agent_error"))


async def call_faults(db: Executor, call_id: uuid.UUID, business_id: uuid.UUID, agent_id: uuid.UUID, *,
                      contact: str, now: datetime.datetime, links: unsubscribe.Links) -> list[int]:
    """A call is over: when it recorded an LLM or STT fault, the agent failed in it."""
    faults = [f for f in await faults_of(db, call_id) if f["stage"] in CALL_FAULT_STAGES]
    if not faults:
        return []
    first = faults[0]
    more = f" ({len(faults) - 1} more fault(s) in this call)" if len(faults) > 1 else ""
    problem = f"{first['stage']} {first['kind']}: {first['detail']}{more}"
    return await agent_error(db, business_id, agent_id, channel="call", problem=problem, now=now, links=links,
                             contact=contact, conversation_id=call_id)
