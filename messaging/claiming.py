"""The dispatcher's claiming transaction: due rows locked, each re-checked and either sent, deferred or refused.

Several dispatchers (one per process) share the outbox: `FOR UPDATE SKIP LOCKED` gives each
its own rows, and the pacing rows of the numbers in a batch are locked in the same
transaction, so two processes can never both take a number's next slot. Suppression,
undeliverable phones and quiet hours are read in that transaction too, so a STOP committed
before it stops the very next message. A row whose slot on its number comes within two
poll intervals (`LOOK_AHEAD`) is taken now and sent at its slot (the dispatcher waits for it), so a fast
sender (100 MPS: a slot every 10 ms) sends a claim's rows in one go instead of one per
claim; a row due later is moved to the slot it would get (without taking it), spreading a
burst over the seconds it needs. Rows due within the look-ahead are read too, and none is
sent before its `not_before`: a row moved to its slot is claimed ahead and sent on it, where
claiming it only once due started each number's next slot at the claim's lateness (bench/sms.py:
200 long codes at 1 MPS sent 48-49 texts a minute each instead of 60). Two polls, not one:
a claim takes time, and a row due just after one poll's horizon must still be claimed ahead by
the next. A
campaign's messages are claimed only while it is `sending`, within its own narrower window,
and only as far as its wallet hold pays for them (`messaging.campaign_funds.fundable`); the
campaigns it left out are named for the dispatcher to fund or pause after the commit.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Collection, Sequence
from typing import Final

from messaging import profiles
from messaging.campaign_funds import fundable
from messaging.config import SmsConfig
from messaging.outbox import Message, add_event, add_events, message_of
from messaging.pacing import MICROS, mps_for, next_slot
from messaging.quiet_hours import Window, check, narrowed, recipient_zones
from storage.executor import Connection

# How many poll intervals ahead a claim takes rows whose slot is coming (see the module docstring).
LOOK_AHEAD: Final = 2

_COLUMNS: Final = ("o.id, o.business_id, o.contact_id, o.number_id, o.from_number, o.to_phone, o.body, o.category,"
                   " o.segments, o.encoding, o.status, o.idempotency_key, o.campaign_id, o.not_before, o.attempts,"
                   " o.verify, o.send_started_at, o.message_sid, o.error_code, o.error_message, o.price_minor,"
                   " o.currency, o.created_at, o.updated_at")


@dataclasses.dataclass(frozen=True)
class Claimed:
    """A message this dispatcher must now send (or look up first, when `message.verify`)."""

    message: Message
    validity_seconds: int | None
    # Its slot on the number's pace, when that is after the claim: not to be sent before it.
    send_at: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True)
class Claim:
    """What one claim took, and the campaigns whose hold could not pay for all their due texts."""

    sends: list[Claimed]
    unfunded: set[uuid.UUID]


def micros(at: datetime.datetime) -> int:
    return int(at.timestamp() * MICROS)


def from_micros(us: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(us / MICROS, tz=datetime.UTC)


async def _reclaim_stale(conn: Connection, now: datetime.datetime, config: SmsConfig,
                         sending: Collection[uuid.UUID]) -> None:
    """Rows left `sending` without a sid by a dispatcher that died: queue them to be looked up, not resent.

    `sending`: the rows this dispatcher is still sending, however long they take (never its own).
    """
    stale = now - datetime.timedelta(seconds=config.stale_send_seconds)
    await conn.execute(
        "UPDATE sms_outbox SET status = 'queued', verify = true, not_before = $1, updated_at = $1 WHERE id IN"
        " (SELECT id FROM sms_outbox WHERE status = 'sending' AND message_sid IS NULL AND send_started_at < $2"
        "  AND NOT (id = ANY($3::uuid[])) FOR UPDATE SKIP LOCKED)", now, stale, list(sending))


async def claim(conn: Connection, config: SmsConfig, *, now: datetime.datetime,
                sending: Collection[uuid.UUID] = ()) -> Claim:
    """Claim due messages; call inside a transaction, and send what it returns after the commit.

    `sending`: the messages the caller claimed before and is still sending (not stale, however old).
    """
    await _reclaim_stale(conn, now, config, sending)
    rows = await conn.fetch(
        f"SELECT {_COLUMNS}, n.number_type, n.status AS number_status, c.timezone AS contact_zone,"
        " k.quiet_hours AS campaign_window, k.hold_id AS campaign_hold_id,"
        " EXISTS (SELECT 1 FROM suppressions s WHERE s.business_id = o.business_id AND s.phone = o.to_phone)"
        "  AS suppressed,"
        " EXISTS (SELECT 1 FROM undeliverable_phones u WHERE u.business_id = o.business_id AND u.phone = o.to_phone)"
        "  AS undeliverable"
        " FROM sms_outbox o LEFT JOIN business_numbers n ON n.id = o.number_id"
        " LEFT JOIN contacts c ON c.id = o.contact_id LEFT JOIN campaigns k ON k.id = o.campaign_id"
        " WHERE o.status = 'queued' AND o.not_before <= $1 AND (o.campaign_id IS NULL OR k.status = 'sending')"
        " ORDER BY o.not_before, o.created_at LIMIT $2"
        " FOR UPDATE OF o SKIP LOCKED", now + datetime.timedelta(seconds=LOOK_AHEAD * config.poll_interval_seconds),
        config.claim_batch)
    rows, unfunded = await fundable(conn, rows, config.price_per_segment_minor)
    if not rows:
        return Claim([], unfunded)
    number_ids = sorted({r["number_id"] for r in rows if r["number_id"] is not None})
    await conn.execute("INSERT INTO sms_pacing (number_id, tat_us) SELECT unnest($1::uuid[]), 0"
                       " ON CONFLICT DO NOTHING", number_ids)
    tats = {r["number_id"]: r["tat_us"] for r in await conn.fetch(
        "SELECT number_id, tat_us FROM sms_pacing WHERE number_id = ANY($1::uuid[]) ORDER BY number_id FOR UPDATE",
        number_ids)}
    taken: dict[object, int] = {}
    planned = dict(tats)
    claimed, refused, deferred = [], [], []
    now_us, rates = micros(now), config.rates()
    ahead_us = int(LOOK_AHEAD * config.poll_interval_seconds * MICROS)
    for row in rows:
        message = message_of(row)
        if row["suppressed"]:
            refused.append((message, "canceled", "RECIPIENT_OPTED_OUT"))
            continue
        if row["undeliverable"]:
            refused.append((message, "canceled", "UNDELIVERABLE"))
            continue
        if row["number_status"] != "active":
            refused.append((message, "failed", "NUMBER_NOT_SMS_CAPABLE"))
            continue
        validity = None
        if message.category == "marketing":
            profile = await profiles.profile(conn, message.business_id, config)
            window = narrowed(profile.window, Window.parse(row["campaign_window"]) if row["campaign_window"] else None)
            verdict = check(now, recipient_zones(row["contact_zone"], message.to_phone, profile.timezone), window)
            if not verdict.open:
                assert verdict.opens_at is not None
                deferred.append((message, verdict.opens_at))
                continue
            validity = verdict.validity_seconds
        mps = mps_for(row["number_type"], rates)
        slot = next_slot(planned[message.number_id], max(now_us, micros(message.not_before)), message.segments, mps)
        planned[message.number_id] = slot.next_tat_us
        if slot.send_at_us > now_us + ahead_us:
            deferred.append((message, from_micros(slot.send_at_us)))
            continue
        taken[message.number_id] = slot.next_tat_us
        claimed.append(Claimed(message, validity, from_micros(slot.send_at_us) if slot.send_at_us > now_us else None))
    await _write(conn, now, claimed, refused, deferred, taken)
    return Claim(claimed, unfunded)


async def _write(conn: Connection, now: datetime.datetime, claimed: Sequence[Claimed],
                 refused: Sequence[tuple[Message, str, str]], deferred: Sequence[tuple[Message, datetime.datetime]],
                 taken: dict[object, int]) -> None:
    if taken:
        await conn.executemany("UPDATE sms_pacing SET tat_us = $2 WHERE number_id = $1", list(taken.items()))
    if claimed:
        await conn.executemany(
            "UPDATE sms_outbox SET status = 'sending', attempts = attempts + 1,"
            " send_started_at = coalesce(send_started_at, $3), updated_at = $2 WHERE id = $1",
            [(c.message.id, now, c.send_at or now) for c in claimed])
    if deferred:
        await conn.executemany("UPDATE sms_outbox SET not_before = $2, updated_at = $3 WHERE id = $1",
                               [(m.id, at, now) for m, at in deferred])
    for message, status, reason in refused:
        await conn.execute("UPDATE sms_outbox SET status = $2, error_message = $3, updated_at = $4 WHERE id = $1",
                           message.id, status, reason, now)
        await add_event(conn, message.id, status, None, "dispatcher", now)
    await add_events(conn, [(c.message.id, "sending", None, "dispatcher", now) for c in claimed
                            if not c.message.verify])
