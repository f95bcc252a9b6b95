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
from messaging.campaign_funds import pay_from_hold
from messaging.phones import country_of
from storage.executor import Connection

log = structlog.get_logger(__name__)


async def record_accepted(conn: Connection, message_id: uuid.UUID, sid: str, *, price_per_segment: int,
                          currency: Currency, costs: ProviderCostsConfig = ProviderCostsConfig()) -> None:
    """Twilio holds message `sid` for outbox row `message_id`: store the sid and debit its segments.

    Both the send's answer and an early status callback may call this; the ledger's
    `sms:{sid}` key makes the second a replay, so a message is paid exactly once. A campaign's
    text is captured from the campaign's hold (`campaign_funds.pay_from_hold`). The carrier
    already has the message, so a wallet emptied meanwhile goes below zero rather than the
    debit being lost.
    """
    row = await conn.fetchrow(
        "UPDATE sms_outbox SET message_sid = coalesce(message_sid, $2), verify = false,"
        " price_minor = segments * $3, currency = $4 WHERE id = $1"
        " RETURNING business_id, segments, message_sid, to_phone, campaign_id",
        message_id, sid, price_per_segment, currency.value)
    if row is None or row["message_sid"] != sid:
        return
    cost = row["segments"] * price_per_segment
    if not cost:
        return
    ours = sms_cost(row["segments"], country_of(row["to_phone"]), costs)
    detail = UsageDetail(row["segments"], Unit.SEGMENTS, ours)
    if row["campaign_id"] is not None and await pay_from_hold(conn, row["campaign_id"], Money(cost, currency),
                                                              f"sms:{sid}", detail=detail):
        return
    for may_overdraw in (False, True):
        try:
            await ledger.debit(conn, business_id=row["business_id"], amount=Money(cost, currency),
                               kind=ledger.EntryKind.SMS_USAGE, idempotency_key=f"sms:{sid}",
                               reference=str(message_id), actor="sms-dispatcher", may_overdraw=may_overdraw,
                               detail=detail)
            return
        except InsufficientFunds:
            log.warning("sms_debit_overdrew", message_id=str(message_id))
