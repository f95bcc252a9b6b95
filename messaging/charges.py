"""What a text costs the business: its segments × the per-segment price, debited once per Twilio message.

Two steps. The moment Twilio holds a text (the send's answer, or a status callback that
overtook it) its sid and price are recorded, one statement under the outbox row's lock and no
other (`record_accepted`). Then the dispatcher pays what is recorded and unpaid in batches
(`pay_recorded`, after each claim's sends and whenever it polls): a campaign's texts are
captured from its hold together, one lock of the wallet per batch (`billing.holds.capture_many`),
where a capture per text, each holding the wallet's lock until its commit, queued every text
of the business behind the one before (bench/sms.py: 90 texts/s on a loaded machine). Each
text is still its own `sms:{MessageSid}` entry, paid exactly once: the batch marks its rows
paid in the transaction that pays them, under their row locks. A text recorded by a process
that then died is paid by the next payer of any process.

The debit records the segments and what they cost the platform at Twilio, by the recipient's
country (`billing.provider_costs.sms_cost`). The carrier already has the message, so a wallet
emptied meanwhile goes below zero rather than the debit being lost.
"""

from __future__ import annotations

import datetime
import uuid
from collections import defaultdict
from typing import Any, Final

import asyncpg
import structlog

from billing import ledger
from billing.cost_config import ProviderCostsConfig
from billing.errors import InsufficientFunds
from billing.money import Currency, Money
from billing.provider_costs import sms_cost
from billing.usage_details import Unit, UsageDetail
from messaging.campaign_funds import pay_from_hold, pay_many_from_hold
from messaging.phones import country_of
from storage.executor import Connection, Executor
from storage.transactions import transaction

log = structlog.get_logger(__name__)

# Texts paid per transaction.
PAY_BATCH: Final = 200

# One statement: the row locked (its sid as it was), the sid and price stored unless another sid is; with an
# answer's time ($5), the attempt's error cleared and the `sending` event written too.
_RECORD: Final = """
WITH old AS (SELECT id, message_sid AS had_sid FROM sms_outbox WHERE id = $1 FOR UPDATE),
rec AS (UPDATE sms_outbox s SET message_sid = $2, verify = false, price_minor = s.segments * $3, currency = $4,
               error_code = CASE WHEN $5::timestamptz IS NULL THEN s.error_code END,
               error_message = CASE WHEN $5::timestamptz IS NULL THEN s.error_message END,
               updated_at = coalesce($5, s.updated_at)
          FROM old WHERE s.id = old.id AND (old.had_sid IS NULL OR old.had_sid = $2)
        RETURNING s.id, old.had_sid),
event AS (INSERT INTO sms_status_events (message_id, status, error_code, source, at)
          SELECT id, 'sending', NULL, 'twilio-accepted', $5 FROM rec WHERE $5::timestamptz IS NOT NULL)
SELECT had_sid FROM rec
"""

_UNPAID: Final = """
SELECT o.id, o.business_id, o.segments, o.to_phone, o.message_sid, o.price_minor, k.hold_id
  FROM sms_outbox o LEFT JOIN campaigns k ON k.id = o.campaign_id
 WHERE o.message_sid IS NOT NULL AND o.paid_at IS NULL
 LIMIT $1 FOR UPDATE OF o SKIP LOCKED
"""


async def record_accepted(db: Executor, message_id: uuid.UUID, sid: str, *, price_per_segment: int,
                          currency: Currency, answered_at: datetime.datetime | None = None) -> bool:
    """Twilio holds message `sid` for outbox row `message_id`: store the sid and its price, to be paid.

    Both the send's answer and an early status callback may call this; the row's lock makes
    the second find the sid already there. `answered_at`: the send's own answer came then
    (the dispatcher): the attempt's earlier error is cleared and a `sending` event
    (`twilio-accepted`) written in the same statement.

    Returns:
        Whether this call recorded the sid (False: it was already, or the row has another).
    """
    row = await db.fetchrow(_RECORD, message_id, sid, price_per_segment, currency.value, answered_at)
    return row is not None and row["had_sid"] is None


async def pay_recorded(db: Executor, currency: Currency, *, now: datetime.datetime,
                       costs: ProviderCostsConfig = ProviderCostsConfig(), limit: int = PAY_BATCH) -> int:
    """Pay for up to `limit` recorded, unpaid texts in one transaction; returns how many were taken.

    Rows other payers hold are skipped (`SKIP LOCKED`), so every process's dispatcher may pay at once.
    """
    async with transaction(db) as conn:
        rows = await conn.fetch(_UNPAID, limit)
        by_hold: dict[int, list[asyncpg.Record]] = defaultdict(list)
        for row in rows:
            if row["price_minor"] and row["hold_id"] is not None:
                by_hold[row["hold_id"]].append(row)
            elif row["price_minor"]:
                await _debit(conn, row, currency, costs)
        for hold_id, texts in by_hold.items():
            charges = [(Money(r["price_minor"], currency), f"sms:{r['message_sid']}", _detail(r, costs)) for r in texts]
            if not await pay_many_from_hold(conn, hold_id, charges):
                for row in texts:
                    await _pay_one(conn, row, currency, costs)
        await conn.execute("UPDATE sms_outbox SET paid_at = $2 WHERE id = ANY($1::uuid[])", [r["id"] for r in rows],
                           now)
    return len(rows)


def _detail(row: Any, costs: ProviderCostsConfig) -> UsageDetail:
    return UsageDetail(row["segments"], Unit.SEGMENTS, sms_cost(row["segments"], country_of(row["to_phone"]), costs))


async def _pay_one(conn: Connection, row: Any, currency: Currency, costs: ProviderCostsConfig) -> None:
    """One text of a campaign whose batch the hold refused: from the hold if it can, else from the wallet."""
    if not await pay_from_hold(conn, row["hold_id"], Money(row["price_minor"], currency), f"sms:{row['message_sid']}",
                               detail=_detail(row, costs)):
        await _debit(conn, row, currency, costs)


async def _debit(conn: Connection, row: Any, currency: Currency, costs: ProviderCostsConfig) -> None:
    for may_overdraw in (False, True):
        try:
            await ledger.debit(conn, business_id=row["business_id"], amount=Money(row["price_minor"], currency),
                               kind=ledger.EntryKind.SMS_USAGE, idempotency_key=f"sms:{row['message_sid']}",
                               reference=str(row["id"]), actor="sms-dispatcher", may_overdraw=may_overdraw,
                               detail=_detail(row, costs))
            return
        except InsufficientFunds:
            log.warning("sms_debit_overdrew", message_id=str(row["id"]))
