"""Ending conversations: silence past the agent's timeout, a request, or a call's hang-up; once each.

A widget conversation or a call is ended by its id; an SMS/WhatsApp stretch by its id or the
id of any of its messages (`end_sms`).

Ending inserts the conversation's `conversation_outcomes` row (its `ended_at` set once: a
second end finds the row and does nothing) and, in the same transaction, queues its analysis
job under a dedupe key per conversation. The idle sweep is a recurring job; its clock is
injected, so a test ends conversations by moving time rather than waiting.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence

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


async def end_sms(db: Executor, conversation_id: uuid.UUID, business_ids: Sequence[uuid.UUID], *,
                  now: datetime.datetime) -> tuple[uuid.UUID, bool] | None:
    """End an SMS/WhatsApp stretch by request and queue its analysis.

    `conversation_id` is the stretch's id (the one its analysis and its started email name) or
    the id of any message in it; only stretches of `business_ids` are looked at (an open stretch
    has no row of its own, so its id is found among the businesses' unended stretches).

    Returns:
        The stretch's id and whether this call ended it (False: it had already ended), or None
        when no message or unended stretch of these businesses has this id.
    """
    async with transaction(db) as conn:
        message = await records.sms_message(conn, conversation_id)
        target = None
        if message is not None:
            if message.business_id not in business_ids:
                return None
            already = await records.ended_stretch_of(conn, message)
            if already is not None:
                return already, False
            stretches = await records.unended_stretches(conn, message.business_id, now=now,
                                                        thread=(message.ours, message.contact))
            target = next((s for s in stretches if s["first_at"] <= message.created_at <= s["last_at"]), None)
        else:
            for business_id in business_ids:
                stretches = await records.unended_stretches(conn, business_id, now=now)
                target = next((s for s in stretches if records.sms_stretch_id(s["first_id"]) == conversation_id),
                              None)
                if target is not None:
                    break
        if target is None:
            return None
        stretch_id = records.sms_stretch_id(target["first_id"])
        ended = await records.insert_requested_sms_end(conn, stretches, target, now=now)
        for outcome_id in ended:
            await queue_analysis(conn, outcome_id, target["business_id"], now=now)
        return stretch_id, stretch_id in ended


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
