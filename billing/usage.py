"""Pay-per-use replies (SMS, chat) and the usage report.

A reply is reserved before the LLM runs and charged after, through a hold: checking the
balance and debiting later would let two concurrent messages both pass the check on a
wallet that can pay for one. The reservation is sized for the largest reply we expect;
the charge is what the reply actually cost, never more than the wallet could pay.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from billing import holds, ledger
from billing.ledger import EntryKind
from billing.money import Currency, Money
from billing.usage_details import UsageDetail
from storage.executor import Executor
from storage.transactions import transaction

ACTOR = "metering"
# A reservation outlives a slow reply; an abandoned one is released by expiry.
RESERVATION_SECONDS = 300
USAGE_KINDS = ("call_usage", "sms_usage", "chat_usage", "number_purchase", "number_rent")


@dataclasses.dataclass(frozen=True, slots=True)
class Reservation:
    """Money set aside for one reply; `hold_id` is None for a free reply."""

    business_id: uuid.UUID
    currency: Currency
    amount: int
    hold_id: int | None


async def reserve(db: Executor, *, business_id: uuid.UUID, amount: Money, key: str,
                  reference: str) -> Reservation:
    """Set aside `amount` for a reply before producing it.

    Raises:
        billing.errors.InsufficientFunds: the wallet can't pay; produce no reply.
    """
    if amount.amount == 0:
        return Reservation(business_id, amount.currency, 0, None)
    expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=RESERVATION_SECONDS)
    hold = await holds.place_hold(db, business_id=business_id, amount=amount, expires_at=expires,
                                  idempotency_key=f"{key}:hold", reference=reference)
    return Reservation(business_id, amount.currency, amount.amount, hold.id)


async def charge(db: Executor, reservation: Reservation, *, cost: int, kind: EntryKind, key: str,
                 detail: UsageDetail | None = None) -> int:
    """Charge what the reply cost (capped at what the wallet can pay) and free the rest; returns the charge.

    `detail` (the reply's tokens, or one SMS reply) is recorded with the charge's entry.
    """
    if reservation.hold_id is None:
        return 0
    async with transaction(db) as conn:
        wallet = await ledger.lock_wallet(conn, reservation.business_id, reservation.currency)
        payable = min(cost, reservation.amount + max(0, wallet.available + wallet.credit_limit))
        await holds.settle(conn, reservation.hold_id, amount=Money(payable, reservation.currency), kind=kind,
                           idempotency_key=key, actor=ACTOR, detail=detail)
        return payable


async def cancel(db: Executor, reservation: Reservation) -> None:
    """The reply was not produced (LLM failed): release the reservation without charging."""
    if reservation.hold_id is not None:
        await holds.release_hold(db, reservation.hold_id)


@dataclasses.dataclass(frozen=True, slots=True)
class UsagePeriod:
    period: datetime.date
    currency: str
    totals: dict[str, int]


async def usage_report(db: Executor, business_id: uuid.UUID, *, start: datetime.datetime,
                       end: datetime.datetime, group: str) -> list[UsagePeriod]:
    """Money spent per kind and period (`day`, `week` or `month`, UTC), oldest first."""
    if group not in ("day", "week", "month"):
        raise ValueError("group must be day, week or month")
    rows = await db.fetch(
        "SELECT date_trunc($4, e.created_at AT TIME ZONE 'UTC')::date AS period, w.currency, e.kind,"
        " -sum(e.amount) AS spent FROM ledger_entries e JOIN wallets w ON w.id = e.wallet_id"
        " WHERE w.business_id = $1 AND e.created_at >= $2 AND e.created_at < $3 AND e.kind = ANY($5)"
        " GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        business_id, start, end, group, list(USAGE_KINDS))
    periods: dict[tuple[datetime.date, str], dict[str, int]] = {}
    for row in rows:
        periods.setdefault((row["period"], row["currency"]), {})[row["kind"]] = int(row["spent"])
    return [UsagePeriod(period, currency, totals) for (period, currency), totals in periods.items()]
