"""Replies to campaigns: an inbound text is credited to the campaign text its sender last got from that number.

A text from phone P to our number N replies to campaign C when C's latest text to P that
Twilio accepted from N was sent within the reply window before it (`[sms]
campaign_reply_window_hours`, 72 h by default: a weekend's late answers count, next week's
unrelated question does not); with several campaigns in the window, the most recent one.
The pair is what the person sees as one thread, so a text to another of the business's
numbers is not a reply to it. Keywords (STOP, START, HELP) are not replies: opt-outs are
counted apart. The agent answers a reply only when the campaign has `aiReplies`; otherwise
the text is stored and counted, and no model is asked, for a person to read and answer.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from storage.executor import Executor


@dataclasses.dataclass(frozen=True)
class Attribution:
    campaign_id: uuid.UUID
    ai_replies: bool


async def attribute(db: Executor, business_id: uuid.UUID, inbound_id: uuid.UUID, *, phone: str, our_number: str,
                    window: datetime.timedelta, now: datetime.datetime) -> Attribution | None:
    """Credit the stored inbound text `inbound_id` (from `phone` to `our_number`) to its campaign, if any.

    Returns:
        The campaign and whether its replies are the agent's to answer; None for no campaign.
    """
    row = await db.fetchrow(
        "SELECT o.id, o.campaign_id, k.ai_replies FROM sms_outbox o JOIN campaigns k ON k.id = o.campaign_id"
        " WHERE o.business_id = $1 AND o.to_phone = $2 AND o.from_number = $3 AND o.message_sid IS NOT NULL"
        " AND o.send_started_at >= $4 ORDER BY o.send_started_at DESC LIMIT 1",
        business_id, phone, our_number, now - window)
    if row is None:
        return None
    await db.execute("INSERT INTO campaign_replies (inbound_id, campaign_id, message_id, phone, answered, received_at)"
                     " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (inbound_id) DO NOTHING",
                     inbound_id, row["campaign_id"], row["id"], phone, row["ai_replies"], now)
    return Attribution(row["campaign_id"], row["ai_replies"])


async def count(db: Executor, campaign_id: uuid.UUID) -> int:
    found: int = await db.fetchval("SELECT count(*) FROM campaign_replies WHERE campaign_id = $1", campaign_id)
    return found
