"""A campaign's numbers for the dashboard: messages by status, skips by reason, replies, opt-outs, segments, cost.

Opt-outs are the recipients the campaign texted who opted out (STOP to any of the business's
numbers, the dashboard, the API or a carrier's 21610) after it started and no later than the
reply window after it finished: the people this campaign lost, whichever number they told.
"""

from __future__ import annotations

import datetime
from typing import Any

from messaging import campaign_replies
from messaging.campaign_audience import SKIP_REASONS
from messaging.campaigns import Campaign
from storage.executor import Executor


async def stats(db: Executor, campaign: Campaign, *, reply_window: datetime.timedelta) -> dict[str, Any]:
    """Messages by status, skips by reason, replies, opt-outs, segments and cost."""
    rows = await db.fetch("SELECT status, count(*) AS n, sum(segments) FILTER (WHERE message_sid IS NOT NULL) AS seg,"
                          " sum(price_minor) AS cost FROM sms_outbox WHERE campaign_id = $1 GROUP BY status",
                          campaign.id)
    skips = await db.fetch("SELECT skip_reason, count(*) AS n FROM campaign_recipients WHERE campaign_id = $1"
                           " AND skip_reason IS NOT NULL GROUP BY skip_reason", campaign.id)
    opt_outs = await db.fetchval(
        "SELECT count(DISTINCT e.phone) FROM consent_events e JOIN campaign_recipients r ON r.phone = e.phone"
        " AND r.campaign_id = $1 AND r.message_id IS NOT NULL WHERE e.business_id = $2 AND e.action = 'opt_out'"
        " AND e.created_at >= $3 AND ($4::timestamptz IS NULL OR e.created_at <= $4)",
        campaign.id, campaign.business_id, campaign.started_at or campaign.created_at,
        campaign.finished_at + reply_window if campaign.finished_at else None)
    return {"messages": {r["status"]: r["n"] for r in rows},
            "skipped": {reason: 0 for reason in SKIP_REASONS} | {r["skip_reason"]: r["n"] for r in skips},
            "replies": await campaign_replies.count(db, campaign.id), "optOuts": opt_outs,
            "segments": sum(r["seg"] or 0 for r in rows), "costMinor": sum(r["cost"] or 0 for r in rows)}
