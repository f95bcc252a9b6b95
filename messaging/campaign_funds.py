"""A campaign's wallet hold: its estimated cost reserved at the start, each accepted text paid from it, the rest freed.

Starting a campaign holds what its queued texts will cost (`billing.holds`), so other
spending can't take the money a campaign half sent still needs. Each text Twilio accepts
captures its segments from the hold, keyed `sms:{MessageSid}` like any text's debit. The
dispatcher claims a campaign's texts only while the hold covers them and the texts already
claimed but not yet paid (`fundable`, in the claiming transaction). When it doesn't (texts
retried after they were paid once, a price raised, a scheduled start on a short wallet), the
hold is extended by what is missing for the rest of the campaign; when the wallet can't give
that, the campaign pauses with `INSUFFICIENT_BALANCE`, and the campaign job (every minute)
or a dashboard resume tries again, so it resumes after a top-up. Finishing or canceling
releases what is left; a text still in flight then is debited from the wallet directly.

Locks: the claiming transaction holds outbox rows, then takes a per-campaign advisory lock,
then only reads the hold; everything that changes a hold here takes the campaign row, then
that advisory lock, then (through billing) the wallet and the hold. Captures (the payer:
outbox rows, wallet, hold) change the hold and the unpaid texts by the same amount in one
commit. So no path waits in a cycle, and two dispatchers can't both claim the same money.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from collections.abc import Sequence
from typing import Any, Final

from billing import holds, ledger
from billing.errors import HoldNotActive, HoldNotFound, IdempotencyConflict, InsufficientFunds
from billing.money import Currency, Money
from billing.usage_details import UsageDetail
from storage.executor import Connection, Executor
from storage.transactions import transaction

INSUFFICIENT_BALANCE: Final = "INSUFFICIENT_BALANCE"
# A campaign's hold must be touched (extended, captured, released) within this long; every extension pushes it.
HOLD_DAYS: Final = 30
# Texts claimed but not paid for yet: sent and unanswered, waiting to be looked up after a lost answer, or
# accepted and waiting for the payer (`messaging.charges.pay_recorded`).
_UNPAID: Final = ("paid_at IS NULL AND (message_sid IS NOT NULL OR status = 'sending'"
                  " OR (status = 'queued' AND verify))")


def _lock_key(campaign_id: uuid.UUID) -> str:
    return f"campaign_funds:{campaign_id}"


async def _lock(conn: Connection, campaign_id: uuid.UUID) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", _lock_key(campaign_id))


async def _active(db: Executor, hold_id: int | None) -> holds.Hold | None:
    if hold_id is None:
        return None
    try:
        hold = await holds.get_hold(db, hold_id)
    except HoldNotFound:
        return None
    return hold if hold.active else None


async def reserved(db: Executor, hold_id: int | None) -> int:
    """What the campaign's hold still reserves (0 without an active hold)."""
    hold = await _active(db, hold_id)
    return 0 if hold is None else hold.amount


async def fundable(conn: Connection, rows: Sequence[Any], price_per_segment: int) -> tuple[list[Any], set[uuid.UUID]]:
    """The claim's rows a campaign's hold can pay for, in order; and the campaigns it left out for lack of money.

    Call in the claiming transaction; rows need `id`, `campaign_id`, `campaign_hold_id`, `segments`.
    """
    campaign_ids = sorted({r["campaign_id"] for r in rows if r["campaign_id"] is not None})
    if not campaign_ids or not price_per_segment:
        return list(rows), set()
    for campaign_id in campaign_ids:
        await _lock(conn, campaign_id)
    unpaid = {r["campaign_id"]: r["segments"] for r in await conn.fetch(
        f"SELECT campaign_id, sum(segments)::bigint AS segments FROM sms_outbox WHERE campaign_id = ANY($1::uuid[])"
        f" AND {_UNPAID} AND NOT (id = ANY($2::uuid[])) GROUP BY campaign_id",
        campaign_ids, [r["id"] for r in rows])}
    free = {}
    for row in rows:
        if row["campaign_id"] is not None and row["campaign_id"] not in free:
            free[row["campaign_id"]] = (await reserved(conn, row["campaign_hold_id"])
                                        - unpaid.get(row["campaign_id"], 0) * price_per_segment)
    kept, short = [], set()
    for row in rows:
        campaign_id = row["campaign_id"]
        if campaign_id is not None:
            cost = row["segments"] * price_per_segment
            if cost > free[campaign_id]:
                short.add(campaign_id)
                continue
            free[campaign_id] -= cost
        kept.append(row)
    return kept, short


async def shortfall(conn: Connection, campaign_id: uuid.UUID, hold_id: int | None, price_per_segment: int) -> int:
    """What the campaign's queued and unpaid texts cost beyond what its hold reserves."""
    segments: int = await conn.fetchval(
        f"SELECT coalesce(sum(segments), 0)::bigint FROM sms_outbox WHERE campaign_id = $1"
        f" AND (status = 'queued' OR ({_UNPAID}))", campaign_id)
    return max(0, segments * price_per_segment - await reserved(conn, hold_id))


async def fund(conn: Connection, business_id: uuid.UUID, campaign_id: uuid.UUID, hold_id: int | None, amount: int,
               currency: Currency, *, now: datetime.datetime) -> None:
    """Reserve `amount` more for a campaign whose row the caller locked: extend its hold, or place a new one.

    Raises:
        InsufficientFunds: the wallet can't give it; nothing changed.
    """
    if amount <= 0:
        return
    await _lock(conn, campaign_id)
    expires = now + datetime.timedelta(days=HOLD_DAYS)
    active = await _active(conn, hold_id)
    if active is not None:
        try:
            await holds.extend_hold(conn, active.id, amount=Money(amount, currency), expires_at=expires,
                                    idempotency_key=f"campaign:{campaign_id}:extend:{uuid.uuid4().hex}")
            return
        except HoldNotActive:
            pass
    placed = await holds.place_hold(conn, business_id=business_id, amount=Money(amount, currency), expires_at=expires,
                                    idempotency_key=f"campaign:{campaign_id}:hold:{uuid.uuid4().hex}",
                                    reference=f"campaign:{campaign_id}")
    await conn.execute("UPDATE campaigns SET hold_id = $2 WHERE id = $1", campaign_id, placed.id)


async def release(conn: Connection, campaign_id: uuid.UUID, hold_id: int | None) -> None:
    """Free what the hold of a finished or canceled campaign (row locked by the caller) still reserves."""
    if hold_id is None:
        return
    await _lock(conn, campaign_id)
    try:
        await holds.release_hold(conn, hold_id, idempotency_key=f"campaign:{campaign_id}:release:{hold_id}")
    except HoldNotActive:
        pass


async def pay_from_hold(conn: Connection, hold_id: int, amount: Money, key: str, *,
                        detail: UsageDetail | None = None) -> bool:
    """Capture an accepted campaign text's cost from its campaign's hold, under `key` (`sms:{MessageSid}`).

    Returns:
        False when the hold is closed or the wallet can't pay the part beyond it: the caller
        then debits the wallet directly (Twilio already has the text).
    """
    try:
        await holds.capture(conn, hold_id, amount=amount, kind=ledger.EntryKind.SMS_USAGE, idempotency_key=key,
                            actor="sms-dispatcher", detail=detail)
    except (HoldNotActive, InsufficientFunds):
        return False
    return True


async def pay_many_from_hold(conn: Connection, hold_id: int, charges: Sequence[tuple[Money, str, UsageDetail | None]]
                             ) -> bool:
    """Capture several accepted texts of one campaign (amount, `sms:{MessageSid}`, detail) from its hold at once.

    Returns:
        False when the hold refused the batch (closed, short, a key used before): nothing was
        written, and the caller pays them one by one.
    """
    try:
        await holds.capture_many(conn, hold_id, charges, kind=ledger.EntryKind.SMS_USAGE, actor="sms-dispatcher")
    except (HoldNotActive, InsufficientFunds, IdempotencyConflict):
        return False
    return True


@dataclasses.dataclass(frozen=True)
class Funding:
    campaign_id: uuid.UUID
    business_id: uuid.UUID
    status: str
    hold_id: int | None


async def _locked(conn: Connection, campaign_id: uuid.UUID) -> Funding | None:
    row = await conn.fetchrow("SELECT id, business_id, status, hold_id FROM campaigns WHERE id = $1 FOR UPDATE",
                              campaign_id)
    return None if row is None else Funding(row["id"], row["business_id"], row["status"], row["hold_id"])


async def fund_or_pause(db: Executor, campaign_id: uuid.UUID, price_per_segment: int, currency: Currency, *,
                        now: datetime.datetime) -> bool:
    """A sending campaign the dispatcher found short: reserve the rest of its cost, else pause it.

    Returns:
        Whether it is funded (False: paused with INSUFFICIENT_BALANCE, or no longer sending).
    """
    async with transaction(db) as conn:
        found = await _locked(conn, campaign_id)
        if found is None or found.status != "sending":
            return False
        try:
            await fund(conn, found.business_id, campaign_id, found.hold_id,
                       await shortfall(conn, campaign_id, found.hold_id, price_per_segment), currency, now=now)
            return True
        except InsufficientFunds:
            await conn.execute("UPDATE campaigns SET status = 'paused', pause_reason = $2 WHERE id = $1",
                               campaign_id, INSUFFICIENT_BALANCE)
            return False


async def resume_funded(db: Executor, campaign_id: uuid.UUID, price_per_segment: int, currency: Currency, *,
                        now: datetime.datetime) -> bool:
    """A campaign paused for its wallet goes on once the rest of its cost can be reserved (after a top-up)."""
    async with transaction(db) as conn:
        found = await _locked(conn, campaign_id)
        if found is None or found.status != "paused":
            return False
        try:
            await fund(conn, found.business_id, campaign_id, found.hold_id,
                       await shortfall(conn, campaign_id, found.hold_id, price_per_segment), currency, now=now)
        except InsufficientFunds:
            return False
        await conn.execute("UPDATE campaigns SET status = 'sending', pause_reason = NULL WHERE id = $1", campaign_id)
        return True


async def resume_all_funded(db: Executor, price_per_segment: int, currency: Currency, *,
                            now: datetime.datetime) -> list[uuid.UUID]:
    """Every campaign paused with INSUFFICIENT_BALANCE whose wallet can now pay for the rest, resumed."""
    rows = await db.fetch("SELECT id FROM campaigns WHERE status = 'paused' AND pause_reason = $1",
                          INSUFFICIENT_BALANCE)
    return [r["id"] for r in rows if await resume_funded(db, r["id"], price_per_segment, currency, now=now)]
