"""What a text costs the business: its segments × the per-segment price, debited once per Twilio message.

The debit records the segments and what they cost the platform at Twilio, by the recipient's
country (`billing.provider_costs.sms_cost`).
"""

from __future__ import annotations

import uuid

import structlog

from billing import ledger
from billing.errors import InsufficientFunds
from billing.cost_config import ProviderCostsConfig
from billing.money import Currency, Money
from billing.provider_costs import sms_cost
from billing.usage_details import Unit, UsageDetail
from messaging.phones import country_of
from storage.executor import Connection

log = structlog.get_logger(__name__)


async def record_accepted(conn: Connection, message_id: uuid.UUID, sid: str, *, price_per_segment: int,
                          currency: Currency, costs: ProviderCostsConfig = ProviderCostsConfig()) -> None:
    """Twilio holds message `sid` for outbox row `message_id`: store the sid and debit its segments.

    Both the send's answer and an early status callback may call this; the ledger's
    `sms:{sid}` key makes the second a replay, so a message is paid exactly once. The carrier
    already has the message, so a wallet emptied meanwhile goes below zero rather than the
    debit being lost.
    """
    row = await conn.fetchrow(
        "UPDATE sms_outbox SET message_sid = coalesce(message_sid, $2), verify = false,"
        " price_minor = segments * $3, currency = $4 WHERE id = $1"
        " RETURNING business_id, segments, message_sid, to_phone",
        message_id, sid, price_per_segment, currency.value)
    if row is None or row["message_sid"] != sid:
        return
    cost = row["segments"] * price_per_segment
    if not cost:
        return
    ours = sms_cost(row["segments"], country_of(row["to_phone"]), costs)
    for may_overdraw in (False, True):
        try:
            await ledger.debit(conn, business_id=row["business_id"], amount=Money(cost, currency),
                               kind=ledger.EntryKind.SMS_USAGE, idempotency_key=f"sms:{sid}",
                               reference=str(message_id), actor="sms-dispatcher", may_overdraw=may_overdraw,
                               detail=UsageDetail(row["segments"], Unit.SEGMENTS, ours))
            return
        except InsufficientFunds:
            log.warning("sms_debit_overdrew", message_id=str(message_id))
