"""Starting a campaign: its audience snapshotted into `campaign_recipients` and its messages queued, at once.

Each phone of the audience either gets an outbox message (its body rendered for that
contact, sent from the campaign's numbers with the usual sender choice) or a skip reason.
The estimated cost is held in the wallet (`messaging.campaign_funds`). A start asked from
the dashboard refuses an empty audience or a wallet that can't hold the estimate, and changes
nothing; a scheduled start (the campaign job) can't answer anyone, so it snapshots and queues
anyway and pauses with `INSUFFICIENT_BALANCE` until a top-up lets the job hold the cost.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from billing.errors import InsufficientFunds
from billing.money import Currency
from messaging import senders
from messaging.campaign_funds import INSUFFICIENT_BALANCE, fund
from messaging.campaign_audience import SKIP_REASONS, Recipient, estimate, recipients
from messaging.campaigns import Campaign, CampaignNotEditable, EmptyAudience, NewCampaign, by_idempotency_key, create, get
from messaging.config import SmsConfig
from messaging.outbox import NewMessage, enqueue
from messaging.pacing import interval_us, mps_for
from messaging.sending import InsufficientBalance
from storage.executor import Connection, Executor
from storage.transactions import transaction


async def start(db: Executor, business_id: uuid.UUID, campaign_id: uuid.UUID, config: SmsConfig,
                currency: Currency, *, now: datetime.datetime, scheduled: bool = False) -> dict[str, Any]:
    """Snapshot the audience and queue its messages, in one transaction; returns the estimate it acted on.

    Args:
        scheduled: started by the campaign job at its send time: the campaign must still be
            `scheduled`, and a wallet short of the estimate pauses it instead of refusing.

    Raises:
        NotFound, CampaignNotEditable (not a draft or scheduled; for `scheduled`, not scheduled and due),
        EmptyAudience,
        InsufficientBalance (not `scheduled`), NumberNotSmsCapable.
    """
    async with transaction(db) as conn:
        campaign = await get(conn, business_id, campaign_id, lock=True)
        if campaign.status not in (("scheduled",) if scheduled else ("draft", "scheduled")):
            raise CampaignNotEditable(f"a {campaign.status} campaign can't be sent")
        if scheduled and (campaign.send_at is None or campaign.send_at > now):
            raise CampaignNotEditable("the campaign is not due yet")
        found = await recipients(conn, business_id, campaign.audience, campaign.template, campaign.category,
                                 require_consent=config.require_marketing_consent)
        summary = estimate(found, config.price_per_segment_minor)
        if not summary["recipients"]:
            raise EmptyAudience("no recipient of this audience may be texted")
        status, reason = "sending", None
        try:
            await fund(conn, business_id, campaign_id, campaign.hold_id, summary["costMinor"], currency, now=now)
        except InsufficientFunds:
            if not scheduled:
                raise InsufficientBalance("the wallet can't pay for this campaign's estimated cost") from None
            status, reason = "paused", INSUFFICIENT_BALANCE
        await _queue(conn, campaign, found, config.rates(), now=now)
        await conn.execute("UPDATE campaigns SET status = $2, pause_reason = $3, started_at = $4 WHERE id = $1",
                           campaign_id, status, reason, now)
        return summary


async def _queue(conn: Connection, campaign: Campaign, found: Sequence[Recipient], rates: Mapping[str, float], *,
                 now: datetime.datetime) -> None:
    """Queue the texts, each number's spread over the time its pace needs for them (`not_before`).

    Queued all due at once, a number's texts after its first were each claimed only to be moved
    to their slot, one claim after another, before any second text went out (bench/sms.py: 200
    numbers with 75 texts each sent 49 a minute instead of 60). The claim still paces each
    number by its own row (`messaging.claiming`); this only puts the texts in the order they
    will go.
    """
    allowed = campaign.from_number_ids or None
    pending: dict[uuid.UUID, int] = {}
    ahead_us: dict[uuid.UUID, int] = {}
    for r in found:
        message_id = None
        if r.body is not None:
            sender = await senders.choose(conn, campaign.business_id, r.phone, allowed=allowed, pending=pending)
            pending[sender.number_id] = pending.get(sender.number_id, 0) + 1
            mps = mps_for(sender.number_type, rates)
            offset = ahead_us.get(sender.number_id, 0)
            ahead_us[sender.number_id] = offset + interval_us(r.segments, mps)
            message, _ = await enqueue(conn, NewMessage(
                campaign.business_id, r.contact_id, sender.number_id, sender.phone_number, r.phone, r.body,
                campaign.category, r.segments, r.encoding, f"campaign:{campaign.id}:{r.phone}",
                now + datetime.timedelta(microseconds=offset), campaign_id=campaign.id), now=now)
            message_id = message.id
        await conn.execute("INSERT INTO campaign_recipients (campaign_id, phone, contact_id, message_id, skip_reason)"
                           " VALUES ($1, $2, $3, $4, $5)", campaign.id, r.phone, r.contact_id, message_id,
                           r.skip_reason)


async def snapshot_summary(db: Executor, campaign_id: uuid.UUID, price_per_segment: int) -> dict[str, Any]:
    """What a started campaign's snapshot holds: recipients queued, their segments and cost, skips by reason."""
    row = await db.fetchrow(
        "SELECT count(r.message_id) AS recipients, coalesce(sum(o.segments), 0)::bigint AS segments"
        " FROM campaign_recipients r LEFT JOIN sms_outbox o ON o.id = r.message_id WHERE r.campaign_id = $1",
        campaign_id)
    skips = await db.fetch("SELECT skip_reason, count(*) AS n FROM campaign_recipients WHERE campaign_id = $1"
                           " AND skip_reason IS NOT NULL GROUP BY skip_reason", campaign_id)
    assert row is not None
    return {"recipients": row["recipients"], "segments": row["segments"],
            "costMinor": row["segments"] * price_per_segment,
            "skipped": {reason: 0 for reason in SKIP_REASONS} | {r["skip_reason"]: r["n"] for r in skips}}


async def send_bulk(db: Executor, business_id: uuid.UUID, new: NewCampaign, config: SmsConfig, currency: Currency,
                    *, now: datetime.datetime) -> tuple[Campaign, dict[str, Any]]:
    """A campaign to `new.audience.phones` created and started in one transaction (all or nothing).

    With `new.idempotency_key`, a repeat (or a concurrent twin) answers the first campaign.

    Returns:
        The campaign and its snapshot summary.

    Raises:
        As `campaigns.create` and `start`.
    """
    if new.idempotency_key is not None:
        found = await by_idempotency_key(db, business_id, new.idempotency_key)
        if found is not None:
            return found, await snapshot_summary(db, found.id, config.price_per_segment_minor)
    try:
        async with transaction(db) as conn:
            campaign = await create(conn, business_id, new)
            await start(conn, business_id, campaign.id, config, currency, now=now)
            return await get(conn, business_id, campaign.id), await snapshot_summary(
                conn, campaign.id, config.price_per_segment_minor)
    except asyncpg.UniqueViolationError:
        assert new.idempotency_key is not None, "only the idempotency key is unique per business"
        found = await by_idempotency_key(db, business_id, new.idempotency_key)
        assert found is not None
        return found, await snapshot_summary(db, found.id, config.price_per_segment_minor)
