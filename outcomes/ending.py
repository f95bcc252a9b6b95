"""Ending conversations: silence past the agent's timeout, a request, or a call's hang-up; once each.

Ending inserts the conversation's `conversation_outcomes` row (its `ended_at` set once: a
second end finds the row and does nothing) and, in the same transaction, queues its analysis
job under a dedupe key per conversation. The idle sweep is a recurring job; its clock is
injected, so a test ends conversations by moving time rather than waiting.
"""

from __future__ import annotations

import datetime
import uuid

from jobs import queue
from outcomes import records
from outcomes.records import EndReason
from storage.executor import Executor
from storage.transactions import transaction

ANALYSE_KIND = "outcomes.analyse"
END_IDLE_KIND = "outcomes.end_idle"
# Every minute: a conversation ends at most a minute after its timeout.
END_IDLE_SCHEDULE = "* * * * *"
SWEEP_LIMIT = 500


async def queue_analysis(db: Executor, outcome_id: uuid.UUID, business_id: uuid.UUID, *,
                         now: datetime.datetime) -> None:
    await queue.enqueue(db, ANALYSE_KIND, {"conversationId": str(outcome_id)}, now=now, business_id=business_id,
                        dedupe_key=f"analyse:{outcome_id}")


async def end_widget(db: Executor, conversation_id: uuid.UUID, *, reason: EndReason,
                     now: datetime.datetime) -> bool:
    """End a widget conversation and queue its analysis; False when it had already ended."""
    async with transaction(db) as conn:
        ended = await records.insert_widget_end(conn, conversation_id, reason=reason, now=now)
        if ended is None:
            return False
        business_id: uuid.UUID = await conn.fetchval(
            "SELECT business_id FROM conversation_outcomes WHERE id = $1", ended)
        await queue_analysis(conn, ended, business_id, now=now)
        return True


async def end_call(db: Executor, call_id: uuid.UUID, business_id: uuid.UUID, *, now: datetime.datetime) -> bool:
    """A call hung up: end its conversation and queue its analysis; False when already ended."""
    async with transaction(db) as conn:
        ended = await records.insert_call_end(conn, call_id, now=now)
        if ended is None:
            return False
        await queue_analysis(conn, ended, business_id, now=now)
        return True


async def end_idle(db: Executor, *, now: datetime.datetime, limit: int = SWEEP_LIMIT) -> int:
    """End every widget conversation and SMS/WhatsApp stretch silent past its agent's timeout; how many ended."""
    ended = 0
    for conversation_id in await records.idle_widget_conversations(db, now=now, limit=limit):
        ended += await end_widget(db, conversation_id, reason="timeout", now=now)
    async with transaction(db) as conn:
        for outcome_id in await records.insert_idle_sms_stretches(conn, now=now, limit=limit):
            business_id: uuid.UUID = await conn.fetchval(
                "SELECT business_id FROM conversation_outcomes WHERE id = $1", outcome_id)
            await queue_analysis(conn, outcome_id, business_id, now=now)
            ended += 1
    return ended
