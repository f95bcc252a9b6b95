"""Twilio's status callbacks applied to the outbox: forward only, each change once, found by our message id.

The callback URL carries our id (`?m=`), so a callback that overtakes the send's own answer
still finds its row and supplies the sid. Twilio retries and reorders callbacks; a status
not ahead of the stored one is ignored (no row, no event written), so a late `sent` never
undoes `delivered`. Final errors teach us about the phone: 30005/30006 mark it
undeliverable, 21610 is an opt-out.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

from billing.cost_config import ProviderCostsConfig
from billing.money import Currency
from messaging import consent
from messaging.charges import record_accepted
from messaging.dispatcher import OPTED_OUT, UNREACHABLE
from messaging.outbox import RANK, TWILIO_STATUS, add_event
from storage.executor import Executor
from storage.transactions import transaction


@dataclasses.dataclass(frozen=True)
class Callback:
    message_id: uuid.UUID
    message_sid: str
    status: str
    error_code: int | None
    # Where the status came from, in its event: Twilio's callback, or the reconciler's lookup.
    source: str = "callback"


async def apply(db: Executor, callback: Callback, *, price_per_segment: int, currency: Currency,
                now: datetime.datetime, costs: ProviderCostsConfig = ProviderCostsConfig()) -> bool:
    """Apply one callback; returns whether it changed anything."""
    ours = TWILIO_STATUS.get(callback.status)
    if ours is None or not callback.message_sid:
        return False
    async with transaction(db) as conn:
        row = await conn.fetchrow("SELECT business_id, status, message_sid, to_phone, number_id FROM sms_outbox"
                                  " WHERE id = $1 FOR UPDATE", callback.message_id)
        if row is None or (row["message_sid"] is not None and row["message_sid"] != callback.message_sid):
            return False
        learned = row["message_sid"] is None
        if learned:
            await record_accepted(conn, callback.message_id, callback.message_sid,
                                  price_per_segment=price_per_segment, currency=currency, costs=costs)
        if RANK[ours] <= RANK[row["status"]]:
            return learned
        await conn.execute("UPDATE sms_outbox SET status = $2, error_code = coalesce($3, error_code),"
                           " updated_at = $4 WHERE id = $1", callback.message_id, ours, callback.error_code, now)
        await add_event(conn, callback.message_id, ours, callback.error_code, callback.source, now)
        if callback.error_code == OPTED_OUT:
            await consent.opt_out(conn, row["business_id"], row["to_phone"], source=consent.Source.CARRIER,
                                  detail=f"Twilio {OPTED_OUT}", number_id=row["number_id"])
        elif callback.error_code in UNREACHABLE:
            await consent.mark_undeliverable(conn, row["business_id"], row["to_phone"], callback.error_code)
        return True
