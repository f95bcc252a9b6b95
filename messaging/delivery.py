"""Twilio's status callbacks applied to the outbox: forward only, each change once, found by our message id.

The callback URL carries our id (`?m=`), so a callback that overtakes the send's own answer
still finds its row and supplies the sid. Twilio retries and reorders callbacks; a status
not ahead of the stored one is ignored (no row, no event written), so a late `sent` never
undoes `delivered`. Final errors teach us about the phone: 30005/30006 mark it
undeliverable, 21610 is an opt-out.

Most callbacks are for a text whose sid we already know, carrying no error we act on: those
are one statement (row locked, status moved if ahead, event written), with no transaction
around it, since two callbacks a text and a transaction's BEGIN and COMMIT round trips were
most of what a callback cost (bench/sms.py). The rest (a sid learned, which pays for the text;
an opt-out or undeliverable phone) take the transaction below.
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid

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


# A callback for a known sid in one statement: the row locked, moved on when behind ($6), the event written.
_KNOWN_SID = """
WITH old AS (SELECT id, message_sid FROM sms_outbox WHERE id = $1 FOR UPDATE),
moved AS (UPDATE sms_outbox s SET status = $3, error_code = coalesce($4, s.error_code), updated_at = $5
            FROM old WHERE s.id = old.id AND old.message_sid = $2 AND s.status = ANY($6::text[]) RETURNING s.id),
event AS (INSERT INTO sms_status_events (message_id, status, error_code, source, at) SELECT id, $3, $4, $7, $5 FROM moved)
SELECT old.message_sid, EXISTS (SELECT 1 FROM moved) AS moved FROM old
"""


async def apply(db: Executor, callback: Callback, *, price_per_segment: int, currency: Currency,
                now: datetime.datetime) -> bool:
    """Apply one callback; returns whether it changed anything."""
    ours = TWILIO_STATUS.get(callback.status)
    if ours is None or not callback.message_sid:
        return False
    if callback.error_code != OPTED_OUT and callback.error_code not in UNREACHABLE:
        behind = [status for status, rank in RANK.items() if rank < RANK[ours]]
        row = await db.fetchrow(_KNOWN_SID, callback.message_id, callback.message_sid, ours, callback.error_code, now,
                                behind, callback.source)
        if row is None or row["message_sid"] is not None:
            return row is not None and bool(row["moved"])
    async with transaction(db) as conn:
        row = await conn.fetchrow("SELECT business_id, status, message_sid, to_phone, number_id FROM sms_outbox"
                                  " WHERE id = $1 FOR UPDATE", callback.message_id)
        if row is None or (row["message_sid"] is not None and row["message_sid"] != callback.message_sid):
            return False
        learned = row["message_sid"] is None
        if learned:  # paid by the dispatcher's next payment, with the texts recorded meanwhile
            await record_accepted(conn, callback.message_id, callback.message_sid,
                                  price_per_segment=price_per_segment, currency=currency)
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
