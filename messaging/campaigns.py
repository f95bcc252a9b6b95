"""Campaigns: one template sent to an audience (lists, tags, contacts) through the outbox, paused, resumed, canceled.

Starting snapshots the audience into `campaign_recipients`, one row per phone: each either
gets an outbox message (its body rendered for that contact, sent from the campaign's numbers
with the usual sender choice) or a skip reason (opted out, undeliverable, no recorded consent
for marketing, deleted). The dispatcher sends a campaign's messages only while it is
`sending`, so pause and cancel take effect at the next claim; cancel also cancels what is
still queued. A campaign whose recent sends fail past the configured share pauses itself.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from typing import Any, Final

import asyncpg

from billing import ledger
from billing.money import Currency
from messaging import senders
from messaging.config import SmsConfig
from messaging.errors import MessagingError, NotFound
from messaging.outbox import NewMessage, add_event, enqueue
from messaging.quiet_hours import Window
from messaging.segments import count_segments
from messaging.sending import InsufficientBalance
from messaging.templates import placeholders, render
from storage.executor import Connection, Executor
from storage.transactions import transaction

SKIP_REASONS: Final = ("opted_out", "undeliverable", "no_consent", "deleted")


class CampaignNotEditable(MessagingError):
    """The campaign is past the state this action needs (409 CAMPAIGN_NOT_EDITABLE)."""


class EmptyAudience(MessagingError):
    """No recipient of the audience may be texted (422 EMPTY_AUDIENCE)."""


@dataclasses.dataclass(frozen=True)
class Audience:
    list_ids: Sequence[uuid.UUID] = ()
    tags: Sequence[str] = ()
    contact_ids: Sequence[uuid.UUID] = ()

    def to_json(self) -> dict[str, Any]:
        return {"listIds": [str(x) for x in self.list_ids], "tags": list(self.tags),
                "contactIds": [str(x) for x in self.contact_ids]}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Audience:
        return cls([uuid.UUID(x) for x in raw.get("listIds", [])], list(raw.get("tags", [])),
                   [uuid.UUID(x) for x in raw.get("contactIds", [])])


@dataclasses.dataclass(frozen=True)
class NewCampaign:
    name: str
    template: str
    audience: Audience
    category: str
    from_number_ids: Sequence[uuid.UUID] = ()
    quiet_hours: str | None = None
    ai_replies: bool = False


@dataclasses.dataclass(frozen=True)
class Campaign:
    id: uuid.UUID
    business_id: uuid.UUID
    name: str
    template: str
    audience: Audience
    from_number_ids: list[uuid.UUID]
    category: str
    quiet_hours: str | None
    ai_replies: bool
    status: str
    pause_reason: str | None
    created_at: datetime.datetime
    started_at: datetime.datetime | None
    finished_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class Recipient:
    contact_id: uuid.UUID
    phone: str
    body: str | None
    segments: int
    skip_reason: str | None


_COLUMNS = ("id, business_id, name, template, audience, from_number_ids, category, quiet_hours, ai_replies, status,"
            " pause_reason, created_at, started_at, finished_at")


def _campaign(row: asyncpg.Record) -> Campaign:
    return Campaign(row["id"], row["business_id"], row["name"], row["template"], Audience.from_json(row["audience"]),
                    list(row["from_number_ids"]), row["category"], row["quiet_hours"], row["ai_replies"],
                    row["status"], row["pause_reason"], row["created_at"], row["started_at"], row["finished_at"])


async def create(db: Executor, business_id: uuid.UUID, new: NewCampaign) -> Campaign:
    """A draft. Raises templates.UnknownVariable, ValueError (a window that widens nothing is fine), NotFound."""
    placeholders(new.template)
    if new.quiet_hours is not None:
        Window.parse(new.quiet_hours)
    for number_id in new.from_number_ids:
        await senders.named(db, business_id, number_id)
    row = await db.fetchrow(
        f"INSERT INTO campaigns (business_id, name, template, audience, from_number_ids, category, quiet_hours,"
        f" ai_replies) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_COLUMNS}", business_id, new.name,
        new.template, new.audience.to_json(), list(new.from_number_ids), new.category, new.quiet_hours,
        new.ai_replies)
    assert row is not None
    return _campaign(row)


async def get(db: Executor, business_id: uuid.UUID, campaign_id: uuid.UUID, *, lock: bool = False) -> Campaign:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM campaigns WHERE id = $1 AND business_id = $2"
                            + (" FOR UPDATE" if lock else ""), campaign_id, business_id)
    if row is None:
        raise NotFound("campaign not found")
    return _campaign(row)


async def all_of(db: Executor, business_id: uuid.UUID, *, limit: int = 100) -> list[Campaign]:
    rows = await db.fetch(f"SELECT {_COLUMNS} FROM campaigns WHERE business_id = $1"
                          " ORDER BY created_at DESC, id DESC LIMIT $2", business_id, limit)
    return [_campaign(r) for r in rows]


async def owner(db: Executor, campaign_id: uuid.UUID) -> uuid.UUID | None:
    found: uuid.UUID | None = await db.fetchval("SELECT business_id FROM campaigns WHERE id = $1", campaign_id)
    return found


async def delete(db: Executor, business_id: uuid.UUID, campaign_id: uuid.UUID) -> None:
    """Only a draft can be deleted. Raises NotFound, CampaignNotEditable."""
    async with transaction(db) as conn:
        campaign = await get(conn, business_id, campaign_id, lock=True)
        if campaign.status != "draft":
            raise CampaignNotEditable(f"a {campaign.status} campaign can't be deleted")
        await conn.execute("DELETE FROM campaigns WHERE id = $1", campaign_id)


_AUDIENCE: Final = """
SELECT DISTINCT ON (c.phone) c.id, c.phone, c.first_name, c.last_name, c.email, c.attributes, c.consent_at,
       c.deleted_at IS NOT NULL AS deleted,
       EXISTS (SELECT 1 FROM suppressions s WHERE s.business_id = c.business_id AND s.phone = c.phone) AS suppressed,
       EXISTS (SELECT 1 FROM undeliverable_phones u WHERE u.business_id = c.business_id AND u.phone = c.phone)
           AS undeliverable
  FROM contacts c
 WHERE c.business_id = $1
   AND (c.id = ANY($2::uuid[]) OR c.tags && $3::text[]
        OR EXISTS (SELECT 1 FROM contact_list_members m WHERE m.contact_id = c.id AND m.list_id = ANY($4::uuid[])))
   AND (c.deleted_at IS NULL OR c.id = ANY($2::uuid[])
        OR EXISTS (SELECT 1 FROM contact_list_members m WHERE m.contact_id = c.id AND m.list_id = ANY($4::uuid[])))
 ORDER BY c.phone, c.deleted_at NULLS FIRST, c.created_at
"""


async def recipients(db: Executor, campaign: Campaign) -> list[Recipient]:
    """The audience now, each phone once: its rendered body and segments, or why it is skipped."""
    a = campaign.audience
    rows = await db.fetch(_AUDIENCE, campaign.business_id, list(a.contact_ids), list(a.tags), list(a.list_ids))
    found = []
    for r in rows:
        reason = ("deleted" if r["deleted"] else "opted_out" if r["suppressed"] else
                  "undeliverable" if r["undeliverable"] else
                  "no_consent" if campaign.category == "marketing" and r["consent_at"] is None else None)
        if reason is not None:
            found.append(Recipient(r["id"], r["phone"], None, 0, reason))
            continue
        fields = {"firstName": r["first_name"], "lastName": r["last_name"], "email": r["email"], "phone": r["phone"]}
        body = render(campaign.template, fields, r["attributes"])
        found.append(Recipient(r["id"], r["phone"], body, count_segments(body).count, None))
    return found


def estimate(found: Sequence[Recipient], price_per_segment: int) -> dict[str, Any]:
    """Recipients, segments and cost of a send now, with the skips by reason."""
    sending = [r for r in found if r.skip_reason is None]
    segments = sum(r.segments for r in sending)
    return {"recipients": len(sending), "segments": segments, "costMinor": segments * price_per_segment,
            "skipped": {reason: sum(1 for r in found if r.skip_reason == reason) for reason in SKIP_REASONS}}


async def start(db: Executor, business_id: uuid.UUID, campaign_id: uuid.UUID, config: SmsConfig,
                currency: Currency, *, now: datetime.datetime) -> dict[str, Any]:
    """Snapshot the audience and queue its messages, in one transaction; returns the estimate it acted on.

    Raises:
        NotFound, CampaignNotEditable (not a draft), EmptyAudience, InsufficientBalance, NumberNotSmsCapable.
    """
    async with transaction(db) as conn:
        campaign = await get(conn, business_id, campaign_id, lock=True)
        if campaign.status != "draft":
            raise CampaignNotEditable(f"a {campaign.status} campaign can't be sent")
        found = await recipients(conn, campaign)
        summary = estimate(found, config.price_per_segment_minor)
        if not summary["recipients"]:
            raise EmptyAudience("no recipient of this audience may be texted")
        wallet = await ledger.get_wallet(conn, business_id, currency)
        if summary["costMinor"] and (wallet is None or wallet.available < summary["costMinor"]):
            raise InsufficientBalance("the wallet can't pay for this campaign's estimated cost")
        await _queue(conn, campaign, found, now=now)
        await conn.execute("UPDATE campaigns SET status = 'sending', started_at = $2 WHERE id = $1", campaign_id, now)
        return summary


async def _queue(conn: Connection, campaign: Campaign, found: Sequence[Recipient], *, now: datetime.datetime) -> None:
    allowed = campaign.from_number_ids or None
    for r in found:
        message_id = None
        if r.body is not None:
            sender = await senders.choose(conn, campaign.business_id, r.phone, allowed=allowed)
            encoding = count_segments(r.body).encoding.value
            message, _ = await enqueue(conn, NewMessage(
                campaign.business_id, r.contact_id, sender.number_id, sender.phone_number, r.phone, r.body,
                campaign.category, r.segments, encoding, f"campaign:{campaign.id}:{r.phone}", now,
                campaign_id=campaign.id), now=now)
            message_id = message.id
        await conn.execute("INSERT INTO campaign_recipients (campaign_id, phone, contact_id, message_id, skip_reason)"
                           " VALUES ($1, $2, $3, $4, $5)", campaign.id, r.phone, r.contact_id, message_id,
                           r.skip_reason)


async def _move(db: Executor, business_id: uuid.UUID, campaign_id: uuid.UUID, allowed: Sequence[str], to: str,
                *, reason: str | None = None) -> Campaign:
    async with transaction(db) as conn:
        campaign = await get(conn, business_id, campaign_id, lock=True)
        if campaign.status not in allowed:
            raise CampaignNotEditable(f"a {campaign.status} campaign can't become {to}")
        await conn.execute("UPDATE campaigns SET status = $2, pause_reason = $3,"
                           " finished_at = CASE WHEN $2 IN ('canceled', 'completed') THEN now() END WHERE id = $1",
                           campaign_id, to, reason)
        return await get(conn, business_id, campaign_id)


async def pause(db: Executor, business_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    return await _move(db, business_id, campaign_id, ("sending",), "paused", reason="PAUSED")


async def resume(db: Executor, business_id: uuid.UUID, campaign_id: uuid.UUID) -> Campaign:
    return await _move(db, business_id, campaign_id, ("paused",), "sending")


async def cancel(db: Executor, business_id: uuid.UUID, campaign_id: uuid.UUID, *, now: datetime.datetime) -> Campaign:
    """Stop for good: what is still queued is canceled (messages already with Twilio go on)."""
    async with transaction(db) as conn:
        campaign = await _move(conn, business_id, campaign_id, ("draft", "sending", "paused"), "canceled")
        ids = await conn.fetch("UPDATE sms_outbox SET status = 'canceled', error_message = 'CAMPAIGN_CANCELED',"
                               " updated_at = $2 WHERE campaign_id = $1 AND status = 'queued' RETURNING id",
                               campaign_id, now)
        for row in ids:
            await add_event(conn, row["id"], "canceled", None, "campaign", now)
        return campaign


async def finish_if_done(db: Executor, campaign_id: uuid.UUID) -> None:
    """A sending campaign with nothing queued or in flight is completed."""
    await db.execute("UPDATE campaigns SET status = 'completed', finished_at = now() WHERE id = $1"
                     " AND status = 'sending' AND NOT EXISTS (SELECT 1 FROM sms_outbox WHERE campaign_id = $1"
                     " AND status IN ('queued', 'sending'))", campaign_id)


async def pause_on_failures(conn: Connection, campaign_id: uuid.UUID, *, window: int, threshold: float) -> bool:
    """Pause a sending campaign whose last `window` finished sends failed more than `threshold` of the time."""
    share = await conn.fetchval(
        "SELECT avg((status IN ('failed', 'undelivered'))::int)::float8 FROM (SELECT status FROM sms_outbox"
        " WHERE campaign_id = $1 AND status IN ('sent', 'delivered', 'failed', 'undelivered')"
        " ORDER BY updated_at DESC LIMIT $2) recent HAVING count(*) >= $2", campaign_id, window)
    if share is None or share <= threshold:
        return False
    paused = await conn.fetchval("UPDATE campaigns SET status = 'paused', pause_reason = 'FAILURE_RATE'"
                                 " WHERE id = $1 AND status = 'sending' RETURNING 1", campaign_id)
    return paused is not None


async def stats(db: Executor, campaign: Campaign) -> dict[str, Any]:
    """Messages by status, skips by reason, opt-outs since the start, segments and cost."""
    rows = await db.fetch("SELECT status, count(*) AS n, sum(segments) FILTER (WHERE message_sid IS NOT NULL) AS seg,"
                          " sum(price_minor) AS cost FROM sms_outbox WHERE campaign_id = $1 GROUP BY status",
                          campaign.id)
    skips = await db.fetch("SELECT skip_reason, count(*) AS n FROM campaign_recipients WHERE campaign_id = $1"
                           " AND skip_reason IS NOT NULL GROUP BY skip_reason", campaign.id)
    opt_outs = await db.fetchval(
        "SELECT count(DISTINCT e.phone) FROM consent_events e JOIN campaign_recipients r ON r.phone = e.phone"
        " AND r.campaign_id = $1 WHERE e.business_id = $2 AND e.action = 'opt_out' AND e.created_at >= $3",
        campaign.id, campaign.business_id, campaign.started_at or campaign.created_at)
    return {"messages": {r["status"]: r["n"] for r in rows},
            "skipped": {reason: 0 for reason in SKIP_REASONS} | {r["skip_reason"]: r["n"] for r in skips},
            "optOuts": opt_outs, "segments": sum(r["seg"] or 0 for r in rows),
            "costMinor": sum(r["cost"] or 0 for r in rows)}
