"""Campaigns: one template sent to an audience through the outbox; written, edited, scheduled, paused, canceled.

A campaign is a `draft` until it is sent (`messaging.campaign_start`) or given a time
(`scheduled`, started by the campaign job within a minute of it). Only a draft or a
scheduled campaign can be edited; once it sends, its audience is a snapshot and its bodies
are rendered. The dispatcher sends a campaign's messages only while it is `sending`, so
pause and cancel take effect at the next claim; cancel also cancels what is still queued.
A campaign whose recent sends fail past the configured share pauses itself.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

import asyncpg

from billing.errors import InsufficientFunds
from billing.money import Currency
from messaging import campaign_funds, senders
from messaging.campaign_audience import Audience as Audience
from messaging.campaign_audience import recipients
from messaging.errors import MessagingError, NotFound
from messaging.outbox import add_event
from messaging.quiet_hours import Window
from messaging.sending import InsufficientBalance
from messaging.templates import placeholders
from storage.executor import Connection, Executor
from storage.transactions import transaction

EDITABLE: Final = ("draft", "scheduled")
# The furthest ahead a campaign may be scheduled.
MAX_SCHEDULE_AHEAD: Final = datetime.timedelta(days=365)


class CampaignNotEditable(MessagingError):
    """The campaign is past the state this action needs (409 CAMPAIGN_NOT_EDITABLE)."""


class EmptyAudience(MessagingError):
    """No recipient of the audience may be texted (422 EMPTY_AUDIENCE)."""


class BadSendTime(MessagingError, ValueError):
    """A send time in the past or more than a year ahead (422 naming sendAt)."""


@dataclasses.dataclass(frozen=True)
class NewCampaign:
    name: str
    template: str
    audience: Audience
    category: str
    from_number_ids: Sequence[uuid.UUID] = ()
    quiet_hours: str | None = None
    ai_replies: bool = False
    send_at: datetime.datetime | None = None
    idempotency_key: str | None = None


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
    send_at: datetime.datetime | None
    hold_id: int | None


_COLUMNS = ("id, business_id, name, template, audience, from_number_ids, category, quiet_hours, ai_replies, status,"
            " pause_reason, created_at, started_at, finished_at, send_at, hold_id")


def _campaign(row: asyncpg.Record) -> Campaign:
    return Campaign(row["id"], row["business_id"], row["name"], row["template"], Audience.from_json(row["audience"]),
                    list(row["from_number_ids"]), row["category"], row["quiet_hours"], row["ai_replies"],
                    row["status"], row["pause_reason"], row["created_at"], row["started_at"], row["finished_at"],
                    row["send_at"], row["hold_id"])


def check_send_at(send_at: datetime.datetime, now: datetime.datetime) -> None:
    """Raises BadSendTime unless `send_at` is after `now` and at most a year ahead."""
    if send_at <= now:
        raise BadSendTime("sendAt must be in the future")
    if send_at > now + MAX_SCHEDULE_AHEAD:
        raise BadSendTime("sendAt must be within a year")


async def _check_content(db: Executor, business_id: uuid.UUID, template: str | None, quiet_hours: str | None,
                         number_ids: Sequence[uuid.UUID]) -> None:
    if template is not None:
        placeholders(template)
    if quiet_hours is not None:
        Window.parse(quiet_hours)
    for number_id in number_ids:
        await senders.named(db, business_id, number_id)


async def _require_audience(conn: Connection, campaign: Campaign, require_consent: bool) -> None:
    """A campaign is only given a time when someone would get it now (the job would start nothing)."""
    found = await recipients(conn, campaign.business_id, campaign.audience, campaign.template, campaign.category,
                             require_consent=require_consent)
    if not any(r.skip_reason is None for r in found):
        raise EmptyAudience("no recipient of this audience may be texted")


async def create(db: Executor, business_id: uuid.UUID, new: NewCampaign, *,
                 now: datetime.datetime | None = None, require_consent: bool = True) -> Campaign:
    """A draft, or a scheduled campaign when `new.send_at` is set (then `now` is required).

    `require_consent` is `[sms] require_marketing_consent`, for the audience a scheduled one must reach.

    Raises:
        templates.UnknownVariable, ValueError (quiet hours), NotFound (a number), NumberNotSmsCapable,
        BadSendTime, EmptyAudience (scheduled with nobody to text).
    """
    await _check_content(db, business_id, new.template, new.quiet_hours, new.from_number_ids)
    if new.send_at is not None:
        assert now is not None, "scheduling needs the current time"
        check_send_at(new.send_at, now)
    async with transaction(db) as conn:
        row = await conn.fetchrow(
            f"INSERT INTO campaigns (business_id, name, template, audience, from_number_ids, category, quiet_hours,"
            f" ai_replies, send_at, idempotency_key, status) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
            f" CASE WHEN $9::timestamptz IS NULL THEN 'draft' ELSE 'scheduled' END) RETURNING {_COLUMNS}",
            business_id, new.name, new.template, new.audience.to_json(), list(new.from_number_ids), new.category,
            new.quiet_hours, new.ai_replies, new.send_at, new.idempotency_key)
        assert row is not None
        created = _campaign(row)
        if created.status == "scheduled":
            await _require_audience(conn, created, require_consent)
        return created


async def by_idempotency_key(db: Executor, business_id: uuid.UUID, key: str) -> Campaign | None:
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM campaigns WHERE business_id = $1 AND idempotency_key = $2",
                            business_id, key)
    return None if row is None else _campaign(row)


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


_EDITS: Final = {"name": "name", "template": "template", "audience": "audience", "category": "category",
                 "from_number_ids": "from_number_ids", "quiet_hours": "quiet_hours", "ai_replies": "ai_replies"}


async def update(db: Executor, business_id: uuid.UUID, campaign_id: uuid.UUID, changes: Mapping[str, Any], *,
                 now: datetime.datetime, require_consent: bool = True) -> Campaign:
    """Change a draft's or a scheduled campaign's fields; only the keys given change.

    `changes` keys: name, template, audience (an `Audience`), category, from_number_ids,
    quiet_hours (None clears it), ai_replies, send_at (a time schedules it, None makes it a
    draft again). A scheduled campaign must still reach someone after the edit.

    Raises:
        NotFound, CampaignNotEditable, templates.UnknownVariable, ValueError (quiet hours),
        NumberNotSmsCapable, BadSendTime, EmptyAudience.
    """
    await _check_content(db, business_id, changes.get("template"), changes.get("quiet_hours"),
                         changes.get("from_number_ids", ()))
    if changes.get("send_at") is not None:
        check_send_at(changes["send_at"], now)
    async with transaction(db) as conn:
        campaign = await get(conn, business_id, campaign_id, lock=True)
        if campaign.status not in EDITABLE:
            raise CampaignNotEditable(f"a {campaign.status} campaign can't be edited")
        sets: list[str] = []
        args: list[object] = [campaign_id]
        for key, value in changes.items():
            if key in _EDITS:
                args.append(value.to_json() if isinstance(value, Audience) else
                            list(value) if key == "from_number_ids" else value)
                sets.append(f"{_EDITS[key]} = ${len(args)}")
        if "send_at" in changes:
            args.append(changes["send_at"])
            sets.append(f"send_at = ${len(args)}, status = CASE WHEN ${len(args)}::timestamptz IS NULL"
                        " THEN 'draft' ELSE 'scheduled' END, pause_reason = NULL")
        if sets:
            await conn.execute(f"UPDATE campaigns SET {', '.join(sets)} WHERE id = $1", *args)
        updated = await get(conn, business_id, campaign_id)
        if updated.status == "scheduled":
            await _require_audience(conn, updated, require_consent)
        return updated


async def schedule(db: Executor, business_id: uuid.UUID, campaign_id: uuid.UUID, send_at: datetime.datetime, *,
                   now: datetime.datetime, require_consent: bool = True) -> Campaign:
    """Give a draft (or a scheduled campaign, again) its send time. Raises as `update`."""
    return await update(db, business_id, campaign_id, {"send_at": send_at}, now=now,
                        require_consent=require_consent)


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


async def resume(db: Executor, business_id: uuid.UUID, campaign_id: uuid.UUID, *, price_per_segment: int,
                 currency: Currency, now: datetime.datetime) -> Campaign:
    """Go on with a paused campaign, its hold first extended to what is left to send.

    Raises:
        NotFound, CampaignNotEditable (not paused), InsufficientBalance (the wallet can't hold the rest).
    """
    async with transaction(db) as conn:
        campaign = await get(conn, business_id, campaign_id, lock=True)
        if campaign.status == "paused":
            missing = await campaign_funds.shortfall(conn, campaign_id, campaign.hold_id, price_per_segment)
            try:
                await campaign_funds.fund(conn, business_id, campaign_id, campaign.hold_id, missing, currency, now=now)
            except InsufficientFunds:
                raise InsufficientBalance("the wallet can't hold the cost of the texts left to send") from None
        return await _move(conn, business_id, campaign_id, ("paused",), "sending")


async def cancel(db: Executor, business_id: uuid.UUID, campaign_id: uuid.UUID, *, now: datetime.datetime) -> Campaign:
    """Stop for good: what is still queued is canceled (messages already with Twilio go on), the hold released."""
    async with transaction(db) as conn:
        campaign = await _move(conn, business_id, campaign_id, ("draft", "scheduled", "sending", "paused"),
                               "canceled")
        ids = await conn.fetch("UPDATE sms_outbox SET status = 'canceled', error_message = 'CAMPAIGN_CANCELED',"
                               " updated_at = $2 WHERE campaign_id = $1 AND status = 'queued' RETURNING id",
                               campaign_id, now)
        for row in ids:
            await add_event(conn, row["id"], "canceled", None, "campaign", now)
        await campaign_funds.release(conn, campaign_id, campaign.hold_id)
        return campaign


async def finish_if_done(db: Executor, campaign_id: uuid.UUID) -> bool:
    """A sending campaign with nothing queued or in flight is completed and its hold released.

    Returns:
        Whether this call completed it.
    """
    async with transaction(db) as conn:
        hold = await conn.fetchrow(
            "UPDATE campaigns SET status = 'completed', finished_at = now() WHERE id = $1 AND status = 'sending'"
            " AND NOT EXISTS (SELECT 1 FROM sms_outbox WHERE campaign_id = $1 AND status IN ('queued', 'sending'))"
            " AND NOT EXISTS (SELECT 1 FROM sms_outbox WHERE campaign_id = $1 AND message_sid IS NOT NULL"
            "                 AND paid_at IS NULL)"
            " RETURNING hold_id", campaign_id)
        if hold is None:
            return False
        await campaign_funds.release(conn, campaign_id, hold["hold_id"])
        return True


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
