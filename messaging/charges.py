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


# One statement: the row locked (its sid as it was), the sid stored unless another is, the campaign's hold read.
_RECORD = """
WITH old AS (SELECT o.id, o.message_sid AS had_sid, k.hold_id FROM sms_outbox o
               LEFT JOIN campaigns k ON k.id = o.campaign_id WHERE o.id = $1 FOR UPDATE OF o)
UPDATE sms_outbox s SET message_sid = $2, verify = false, price_minor = s.segments * $3, currency = $4
  FROM old WHERE s.id = old.id AND (old.had_sid IS NULL OR old.had_sid = $2)
RETURNING s.business_id, s.segments, s.to_phone, old.had_sid, old.hold_id
"""


async def record_accepted(conn: Connection, message_id: uuid.UUID, sid: str, *, price_per_segment: int,
                          currency: Currency, costs: ProviderCostsConfig = ProviderCostsConfig()) -> None:
    """Twilio holds message `sid` for outbox row `message_id`: store the sid and debit its segments.

    Both the send's answer and an early status callback may call this; the row's lock makes
    the second see the sid and pay nothing (the `sms:{sid}` key would make it a replay anyway),
    so a message is paid exactly once. A campaign's
    text is captured from the campaign's hold (`campaign_funds.pay_from_hold`). The carrier
    already has the message, so a wallet emptied meanwhile goes below zero rather than the
    debit being lost.
    """
    row = await conn.fetchrow(_RECORD, message_id, sid, price_per_segment, currency.value)
    if row is None or row["had_sid"] == sid:
        return  # another sid, or this one already recorded and paid
    cost = row["segments"] * price_per_segment
    if not cost:
        return
    ours = sms_cost(row["segments"], country_of(row["to_phone"]), costs)
    detail = UsageDetail(row["segments"], Unit.SEGMENTS, ours)
    if row["hold_id"] is not None and await pay_from_hold(conn, row["hold_id"], Money(cost, currency),
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
